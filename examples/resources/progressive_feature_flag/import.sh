# By `<application_id>/<environment_id>/<configuration_profile_id>/<flag>`:
# adopts the value clients of the environment receive now.
terraform import progressive_feature_flag.checkout_v2 abc1234/env5678/prf9012/checkout_v2
