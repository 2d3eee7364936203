# Quickstart: two releases baked behind canary gates on a local AWS emulator.
# scripts/quickstart.sh creates the alarms, runs this, and explains the result.
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

variable "release" {
  type        = string
  description = "The version being released."
  default     = "v2"
}

# The checkout service stays healthy: its gate passes.
resource "progressive_canary_gate" "checkout" {
  triggers      = { release = var.release }
  alarm_names   = ["checkout-5xx", "checkout-p99"]
  duration      = "6s"
  poll_interval = "1s"
}

# The payments release regresses: its latency alarm fires during the bake,
# so this gate fails and the apply exits non-zero.
resource "progressive_canary_gate" "payments" {
  triggers      = { release = var.release }
  alarm_names   = ["payments-p99"]
  duration      = "6s"
  poll_interval = "1s"
}
