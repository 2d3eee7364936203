"""Fixtures for the feature flag quickstart, on the local emulator (never real AWS).

    fixtures.py setup      create application `shop` with a feature flag profile (flags
                           `search_v2` and `checkout_v2`, both off, deployed), environment
                           `prod` and strategy `immediate`; print them as Terraform variables
    fixtures.py served     what a new client of `prod` receives, one line per flag
    fixtures.py summary    each release's story from `terraform show -json` on stdin
"""

import json
import os
import sys
import time
from urllib.parse import urlparse

import boto3


def client(service):
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    if urlparse(endpoint).hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit(f"fixtures.py only talks to a local emulator, not {endpoint}")
    return boto3.client(service, endpoint_url=endpoint, region_name=os.environ.get("AWS_REGION", "us-east-1"))


FLAGS = {
    "version": "1",
    "flags": {"search_v2": {"name": "New search"}, "checkout_v2": {"name": "New checkout"}},
    "values": {"search_v2": {"enabled": False}, "checkout_v2": {"enabled": False}},
}


def setup():
    ac = client("appconfig")
    app = ac.create_application(Name="shop")["Id"]
    profile = ac.create_configuration_profile(ApplicationId=app, Name="flags", LocationUri="hosted",
                                              Type="AWS.AppConfig.FeatureFlags")["Id"]
    env = ac.create_environment(ApplicationId=app, Name="prod")["Id"]
    strategy = ac.create_deployment_strategy(Name="immediate", DeploymentDurationInMinutes=0, FinalBakeTimeInMinutes=0,
                                             GrowthFactor=100, GrowthType="LINEAR", ReplicateTo="NONE")["Id"]
    version = ac.create_hosted_configuration_version(ApplicationId=app, ConfigurationProfileId=profile,
                                                     Content=json.dumps(FLAGS).encode(),
                                                     ContentType="application/json")["VersionNumber"]
    number = ac.start_deployment(ApplicationId=app, EnvironmentId=env, DeploymentStrategyId=strategy,
                                 ConfigurationProfileId=profile, ConfigurationVersion=str(version))["DeploymentNumber"]
    while ac.get_deployment(ApplicationId=app, EnvironmentId=env, DeploymentNumber=number)["State"] != "COMPLETE":
        time.sleep(0.1)
    print(json.dumps({"application_id": app, "environment_id": env, "profile_id": profile, "strategy_id": strategy}))


def served(names):
    data = client("appconfigdata")
    token = data.start_configuration_session(ApplicationIdentifier=names["application_id"],
                                             EnvironmentIdentifier=names["environment_id"],
                                             ConfigurationProfileIdentifier=names["profile_id"])["InitialConfigurationToken"]
    flags = json.loads(data.get_latest_configuration(ConfigurationToken=token)["Configuration"].read())
    for key in sorted(flags):
        print(f"  served to a new client: {key} {'on' if flags[key].get('enabled') else 'off'}")


def summary(state):
    for resource in state.get("values", {}).get("root_module", {}).get("resources", []):
        v = resource["values"]
        print(f"  {v['flag']}: status={v['status']} exposure={v['exposure']}%"
              + (f" ({v['rollback_reason']})" if v.get("rollback_reason") else ""))
        # One line per event: "<at> <event> <percent>%: <detail>".
        for line in v.get("history") or []:
            print(f"    {line}")


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "setup":
        setup()
    elif command == "served":
        served(json.load(open(sys.argv[2])))
    elif command == "summary":
        summary(json.load(sys.stdin))
    else:
        sys.exit(__doc__)
