# The flags document lives in a hosted feature-flag profile; the AWS
# provider declares the application, environment (with its monitors),
# profile and strategy. This resource changes one flag and releases it.
resource "aws_appconfig_deployment_strategy" "gradual" {
  name                           = "gradual-20-percent"
  deployment_duration_in_minutes = 20
  final_bake_time_in_minutes     = 10
  growth_factor                  = 20
  growth_type                    = "LINEAR"
  replicate_to                   = "NONE"
}

# Turn the new checkout on for 20% more clients every 4 minutes, watching
# the checkout's error alarm and comparing the users who have the feature
# with those who do not; any failure rolls the flag back for everyone.
resource "progressive_feature_flag" "checkout_v2" {
  application_id           = aws_appconfig_application.shop.id
  environment_id           = aws_appconfig_environment.prod.environment_id
  configuration_profile_id = aws_appconfig_configuration_profile.flags.configuration_profile_id
  flag                     = "checkout_v2"
  enabled                  = true
  attributes = {
    limit = "25"
  }
  deployment_strategy_id = aws_appconfig_deployment_strategy.gradual.id

  alarm_names = [aws_cloudwatch_metric_alarm.checkout_errors.alarm_name]

  analysis {
    period = "60s"
    source {
      canary_requests {
        namespace   = "Shop"
        metric_name = "Requests"
        dimensions  = { Variant = "checkout_v2" }
      }
      canary_errors {
        namespace   = "Shop"
        metric_name = "Errors"
        dimensions  = { Variant = "checkout_v2" }
      }
      baseline_requests {
        namespace   = "Shop"
        metric_name = "Requests"
        dimensions  = { Variant = "control" }
      }
      baseline_errors {
        namespace   = "Shop"
        metric_name = "Errors"
        dimensions  = { Variant = "control" }
      }
    }
  }
}
