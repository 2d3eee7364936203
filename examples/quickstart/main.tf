# Quickstart: two releases of a web service behind an Application Load
# Balancer, on a local AWS emulator. scripts/quickstart.sh creates the load
# balancer, the blue and green target groups and the 5xx alarm, then applies
# this twice: once to release green (promoted), once to go back to blue while
# the alarm fires (rolled back).
terraform {
  required_providers {
    progressive = {
      source = "progressive-delivery/progressive"
    }
  }
}

# Region and endpoint come from AWS_REGION and AWS_ENDPOINT_URL, which the
# quickstart script points at the emulator.
provider "progressive" {}

variable "listener_arn" {
  type = string
}

variable "blue_arn" {
  type = string
}

variable "green_arn" {
  type = string
}

variable "color" {
  type        = string
  description = "Which target group should serve all traffic."
}

resource "progressive_rollout" "web" {
  alb {
    listener_arn     = var.listener_arn
    target_group_arn = var.color == "blue" ? var.blue_arn : var.green_arn
  }

  # 20% for 4 seconds, then everything, then 3 more seconds of watching.
  canary {
    percent = 20
    bake    = "4s"
  }
  final_bake = "3s"

  alarm_names   = ["web-5xx"]
  poll_interval = "1s"
}

output "status" {
  value = progressive_rollout.web.status
}
