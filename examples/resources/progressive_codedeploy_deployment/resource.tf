# ECS blue/green: the AWS provider declares the application and the group;
# this resource runs each deployment inside `terraform apply`.
resource "aws_codedeploy_app" "web" {
  name             = "web"
  compute_platform = "ECS"
}

resource "aws_codedeploy_deployment_group" "web" {
  app_name               = aws_codedeploy_app.web.name
  deployment_group_name  = "web-prod"
  deployment_config_name = "CodeDeployDefault.ECSCanary10Percent5Minutes"
  service_role_arn       = aws_iam_role.codedeploy.arn

  deployment_style {
    deployment_option = "WITH_TRAFFIC_CONTROL"
    deployment_type   = "BLUE_GREEN"
  }

  blue_green_deployment_config {
    deployment_ready_option {
      action_on_timeout = "CONTINUE_DEPLOYMENT"
    }
    terminate_blue_instances_on_deployment_success {
      action                           = "TERMINATE"
      termination_wait_time_in_minutes = 5
    }
  }

  ecs_service {
    cluster_name = aws_ecs_cluster.main.name
    service_name = aws_ecs_service.web.name
  }

  load_balancer_info {
    target_group_pair_info {
      prod_traffic_route {
        listener_arns = [aws_lb_listener.https.arn]
      }
      target_group {
        name = aws_lb_target_group.blue.name
      }
      target_group {
        name = aws_lb_target_group.green.name
      }
    }
  }

  auto_rollback_configuration {
    enabled = true
    events  = ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM", "DEPLOYMENT_STOP_ON_REQUEST"]
  }
}

# A new task definition revision plans a deployment; the plan shows the
# config's schedule (10% for 5 minutes, then everything). Beside the group's
# own alarms, more alarms and a canary-vs-baseline analysis of the two
# target groups watch the deployment; a failure stops it with a rollback.
resource "progressive_codedeploy_deployment" "web" {
  application_name      = aws_codedeploy_app.web.name
  deployment_group_name = aws_codedeploy_deployment_group.web.deployment_group_name

  ecs {
    task_definition_arn = aws_ecs_task_definition.web.arn
    container_name      = "web"
    container_port      = 8080
  }

  alarm_names = [aws_cloudwatch_metric_alarm.web_5xx.alarm_name, aws_cloudwatch_metric_alarm.web_p99.alarm_name]

  analysis {
    max_increase = 0.25
    confidence   = 0.99
  }

  timeouts {
    update = "45m"
  }
}

# Lambda: publish a version, and CodeDeploy moves the alias to it, 10% more
# every minute.
resource "progressive_codedeploy_deployment" "checkout" {
  application_name       = "checkout"
  deployment_group_name  = "checkout-prod"
  deployment_config_name = "CodeDeployDefault.LambdaLinear10PercentEvery1Minute"

  lambda {
    function_name  = aws_lambda_function.checkout.function_name
    alias          = "live"
    target_version = aws_lambda_function.checkout.version
  }

  alarm_names   = [aws_cloudwatch_metric_alarm.checkout_errors.alarm_name]
  poll_interval = "5s"
}
