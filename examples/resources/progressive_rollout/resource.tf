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
