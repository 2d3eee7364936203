terraform {
  required_providers {
    progressive = {
      source = "progressive-delivery/progressive"
    }
  }
}

# Credentials come from the standard AWS chain (environment, profiles, SSO,
# instance or task roles). Everything here is optional.
provider "progressive" {
  region = "us-east-1"

  assume_role {
    role_arn     = "arn:aws:iam::123456789012:role/deployer"
    session_name = "terraform-progressive"
  }
}
