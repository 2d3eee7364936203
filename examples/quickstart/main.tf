# Quickstart: two releases of a web service behind an Application Load
# Balancer, on a local AWS emulator. scripts/quickstart.sh creates the load
# balancer, the blue and green target groups and a 5xx alarm, starts simulated
# traffic (blue's build fails 15% of requests, green's 1%), then applies this
# twice: releasing green is promoted; going back to blue is rolled back by the
# canary analysis alone.
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

  # 20% for 20 seconds, then everything, then 3 more seconds of watching.
  canary {
    percent = 20
    bake    = "20s"
  }
  final_bake = "3s"

  # The canary's 5xx rate against the baseline's, from the load balancer's
  # per-target-group metrics. Short periods keep the demo quick; use the
  # default 60s against real CloudWatch.
  analysis {
    metric       = "5xx"
    max_increase = 0.25
    confidence   = 0.99
    min_requests = 100
    period       = "5s"
  }

  alarm_names   = ["web-5xx"]
  poll_interval = "1s"
}

output "status" {
  value = progressive_rollout.web.status
}
