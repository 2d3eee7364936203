variable "image" {
  type        = string
  description = "Image tag being released."
}

# Deploy the new image first (an ECS service, a Lambda alias, ...), then bake:
# the apply fails if either alarm goes into ALARM within ten minutes.
resource "progressive_canary_gate" "checkout" {
  triggers      = { image = var.image }
  alarm_names   = ["checkout-5xx", "checkout-p99"]
  duration      = "10m"
  poll_interval = "10s"
}
