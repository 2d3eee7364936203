# The feature flag quickstart (scripts/quickstart-flags.sh): two features
# behind AppConfig flags of one document, each released to a share of the
# users first and judged by the application's own per-variant metrics.
terraform {
  required_providers {
    progressive = { source = "progressive-delivery/progressive" }
  }
}

provider "progressive" {}

variable "application_id" { type = string }
variable "environment_id" { type = string }
variable "profile_id" { type = string }
variable "strategy_id" { type = string }
variable "search_v2" { type = bool }
variable "checkout_v2" { type = bool }

locals {
  # The application publishes Requests and Errors per Variant (on, off) in
  # the flag's own namespace; the analysis compares the two sides.
  judged = {
    search_v2   = "Search"
    checkout_v2 = "Checkout"
  }
  steps = {
    search_v2   = [50]
    checkout_v2 = [5, 50]
  }
}

resource "progressive_feature_flag" "release" {
  for_each = { search_v2 = var.search_v2, checkout_v2 = var.checkout_v2 }

  application_id           = var.application_id
  environment_id           = var.environment_id
  configuration_profile_id = var.profile_id
  flag                     = each.key
  enabled                  = each.value
  deployment_strategy_id   = var.strategy_id
  poll_interval            = "1s"

  split_by = "userId"
  dynamic "step" {
    for_each = local.steps[each.key]
    content {
      percent = step.value
      bake    = "20s"
    }
  }

  analysis {
    period       = "5s"
    min_requests = 50
    source {
      canary_requests {
        namespace   = local.judged[each.key]
        metric_name = "Requests"
        dimensions  = { Variant = "on" }
      }
      canary_errors {
        namespace   = local.judged[each.key]
        metric_name = "Errors"
        dimensions  = { Variant = "on" }
      }
      baseline_requests {
        namespace   = local.judged[each.key]
        metric_name = "Requests"
        dimensions  = { Variant = "off" }
      }
      baseline_errors {
        namespace   = local.judged[each.key]
        metric_name = "Errors"
        dimensions  = { Variant = "off" }
      }
    }
  }

  timeouts {
    create = "5m"
    update = "5m"
  }
}
