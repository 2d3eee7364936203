variable "color" {
  type        = string
  description = "Which target group should serve: \"blue\" or \"green\"."
}

# Flip var.color to release: 10% canary for 5 minutes, then everything, then a
# final 10-minute watch. Any alarm in ALARM sends all traffic back at once and
# fails the apply.
resource "progressive_rollout" "web" {
  alb {
    listener_arn     = aws_lb_listener.https.arn
    target_group_arn = var.color == "blue" ? aws_lb_target_group.blue.arn : aws_lb_target_group.green.arn
  }

  canary {
    percent = 10
    bake    = "5m"
  }

  final_bake    = "10m"
  alarm_names   = [aws_cloudwatch_metric_alarm.web_5xx.alarm_name]
  poll_interval = "10s"

  timeouts {
    create = "60m"
    update = "60m"
  }
}

# A Lambda alias: publish a new version, point `version` at it, and the alias
# shifts 10% then 50% of invocations to it before it serves everything. The
# analysis compares the new version's Errors with the old version's, per
# executed version, as Lambda publishes them for invocations through an alias.
resource "progressive_rollout" "checkout" {
  lambda_alias {
    function_name = aws_lambda_function.checkout.function_name
    alias         = aws_lambda_alias.live.name
    version       = aws_lambda_function.checkout.version
  }

  step {
    percent = 10
    bake    = "5m"
  }
  step {
    percent = 50
    bake    = "5m"
  }

  alarm_names = [aws_cloudwatch_metric_alarm.checkout_errors.alarm_name]

  # Roll back when the new version's 5xx rate, or its share of requests
  # slower than 300ms, is shown to be more than 1.25 times the old one's; a
  # step passes only once a doubling of either is ruled out.
  analysis {
    max_increase      = 0.25
    rule_out_increase = 1
    confidence        = 0.99
    latency_threshold = "300ms"
  }
}

# Route 53 weighted records: two record sets of one name, "blue" and "green";
# the rollout moves the weight to the target set. Clients see a shift only
# after the record's TTL, so bakes should be longer than it. Route 53 has no
# per-record metrics; the analysis judges the application's own, which it
# publishes per variant.
resource "progressive_rollout" "api_dns" {
  route53 {
    zone_id               = aws_route53_zone.main.zone_id
    name                  = "api.example.com"
    type                  = "A"
    set_identifiers       = ["blue", "green"]
    target_set_identifier = var.color
  }

  linear {
    step_percent = 25
    interval     = "5m"
  }

  alarm_names = [aws_cloudwatch_metric_alarm.api_5xx.alarm_name]
  analysis {
    source {
      canary_requests {
        namespace   = "Api"
        metric_name = "Requests"
        dimensions  = { Variant = var.color }
      }
      canary_errors {
        namespace   = "Api"
        metric_name = "Errors"
        dimensions  = { Variant = var.color }
      }
      baseline_requests {
        namespace   = "Api"
        metric_name = "Requests"
        dimensions  = { Variant = var.color == "blue" ? "green" : "blue" }
      }
      baseline_errors {
        namespace   = "Api"
        metric_name = "Errors"
        dimensions  = { Variant = var.color == "blue" ? "green" : "blue" }
      }
    }
  }
}
