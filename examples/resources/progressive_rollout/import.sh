# A rollout is imported by the ARN of its listener...
terraform import progressive_rollout.web arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2

# ...or of its listener rule.
terraform import progressive_rollout.api arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee

# A Lambda alias rollout by the alias ARN (or `<function name>:<alias>`).
terraform import progressive_rollout.checkout arn:aws:lambda:us-east-1:123456789012:function:checkout:live

# A Route 53 rollout by `<zone id>/<name>/<type>`.
terraform import progressive_rollout.api_dns Z0123456789ABCDEFGHIJ/api.example.com/A
