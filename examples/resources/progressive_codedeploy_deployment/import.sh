# By `<application_name>:<deployment_group_name>`: adopts the revision the
# group last deployed successfully (an AppSpec in JSON).
terraform import progressive_codedeploy_deployment.web web:web-prod
