"""CodeDeploy as the CodeDeploy API reference and user guide document it
(`emulator_codedeploy.py`), checked with boto3 against an emulator started
with `--codedeploy-minute 0.25` (a CodeDeploy minute lasts a quarter second).

Predefined and custom deployment configs; Lambda canary and linear
deployments read back through Lambda's GetAlias; lifecycle events and
targets; one active deployment per group; StopDeployment with and without
rollback; an alarm in ALARM stopping and rolling back; a failed hook
rolling back; error shapes; an ECS blue/green deployment shifting the
production listener's weights and swapping the primary task set.
"""

import json
import re
import time
import urllib.request

import botocore.exceptions

from .emulator_process import EmulatorCase, aws_client, code_zip, start_emulator

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/codedeploy"
MINUTE = 0.25  # real seconds per CodeDeploy minute in these tests


def appspec(function, alias, current, target, hooks=None):
    spec = {"version": 0.0, "Resources": [{"fn": {"Type": "AWS::Lambda::Function", "Properties": {
        "Name": function, "Alias": alias, "CurrentVersion": current, "TargetVersion": target}}}]}
    if hooks:
        spec["Hooks"] = [{k: v} for k, v in hooks.items()]
    return {"revisionType": "AppSpecContent", "appSpecContent": {"content": json.dumps(spec)}}


class CodeDeployCase(EmulatorCase):
    @classmethod
    def setUpClass(cls):
        # EmulatorCase starts an emulator without flags; this one needs the fast clock.
        super(EmulatorCase, cls).setUpClass()
        cls.endpoint, stop = start_emulator("--codedeploy-minute", str(MINUTE))
        cls.addClassCleanup(stop)
        cls.cd = aws_client("codedeploy", cls.endpoint)
        cls.lam = aws_client("lambda", cls.endpoint)
        cls.cw = aws_client("cloudwatch", cls.endpoint)
        aws_client("iam", cls.endpoint).create_role(RoleName="lambda-role", AssumeRolePolicyDocument="{}")

    def refused(self, call, code, **kwargs):
        with self.assertRaises(botocore.exceptions.ClientError) as caught:
            call(**kwargs)
        error = caught.exception.response
        self.assertEqual((error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"]), (400, code),
                         error["Error"].get("Message"))
        self.assertTrue(error["Error"].get("Message"))
        return error["Error"]["Message"]

    def wait_for(self, predicate, timeout=10.0, what="condition"):
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                self.fail(f"timed out waiting for {what}")
            time.sleep(0.02)

    def deployment(self, deployment_id):
        return self.cd.get_deployment(deploymentId=deployment_id)["deploymentInfo"]

    def wait_status(self, deployment_id, *statuses, timeout=10.0):
        return self.wait_for(lambda: (lambda d: d if d["status"] in statuses else None)(self.deployment(deployment_id)),
                             timeout, f"{deployment_id} to be {statuses}")


class Configs(CodeDeployCase):
    PREDEFINED = {
        "CodeDeployDefault.OneAtATime": ("Server", None),
        "CodeDeployDefault.HalfAtATime": ("Server", None),
        "CodeDeployDefault.AllAtOnce": ("Server", None),
        "CodeDeployDefault.LambdaAllAtOnce": ("Lambda", ("AllAtOnce",)),
        "CodeDeployDefault.LambdaCanary10Percent5Minutes": ("Lambda", ("TimeBasedCanary", 10, 5)),
        "CodeDeployDefault.LambdaCanary10Percent10Minutes": ("Lambda", ("TimeBasedCanary", 10, 10)),
        "CodeDeployDefault.LambdaCanary10Percent15Minutes": ("Lambda", ("TimeBasedCanary", 10, 15)),
        "CodeDeployDefault.LambdaCanary10Percent30Minutes": ("Lambda", ("TimeBasedCanary", 10, 30)),
        "CodeDeployDefault.LambdaLinear10PercentEvery1Minute": ("Lambda", ("TimeBasedLinear", 10, 1)),
        "CodeDeployDefault.LambdaLinear10PercentEvery2Minutes": ("Lambda", ("TimeBasedLinear", 10, 2)),
        "CodeDeployDefault.LambdaLinear10PercentEvery3Minutes": ("Lambda", ("TimeBasedLinear", 10, 3)),
        "CodeDeployDefault.LambdaLinear10PercentEvery10Minutes": ("Lambda", ("TimeBasedLinear", 10, 10)),
        "CodeDeployDefault.ECSAllAtOnce": ("ECS", ("AllAtOnce",)),
        "CodeDeployDefault.ECSCanary10Percent5Minutes": ("ECS", ("TimeBasedCanary", 10, 5)),
        "CodeDeployDefault.ECSCanary10Percent15Minutes": ("ECS", ("TimeBasedCanary", 10, 15)),
        "CodeDeployDefault.ECSLinear10PercentEvery1Minutes": ("ECS", ("TimeBasedLinear", 10, 1)),
        "CodeDeployDefault.ECSLinear10PercentEvery3Minutes": ("ECS", ("TimeBasedLinear", 10, 3)),
    }

    def test_predefined_configs(self):
        for name, (platform, routing) in self.PREDEFINED.items():
            info = self.cd.get_deployment_config(deploymentConfigName=name)["deploymentConfigInfo"]
            self.assertEqual((info["deploymentConfigName"], info["computePlatform"]), (name, platform))
            self.assertTrue(info["deploymentConfigId"])
            if routing is None:
                self.assertIn(info["minimumHealthyHosts"]["type"], ("HOST_COUNT", "FLEET_PERCENT"))
                continue
            traffic = info["trafficRoutingConfig"]
            self.assertEqual(traffic["type"], routing[0])
            if routing[0] == "TimeBasedCanary":
                self.assertEqual(traffic["timeBasedCanary"], {"canaryPercentage": routing[1], "canaryInterval": routing[2]})
            if routing[0] == "TimeBasedLinear":
                self.assertEqual(traffic["timeBasedLinear"], {"linearPercentage": routing[1], "linearInterval": routing[2]})
        self.assertEqual(self.cd.get_deployment_config(deploymentConfigName="CodeDeployDefault.HalfAtATime")
                         ["deploymentConfigInfo"]["minimumHealthyHosts"], {"type": "FLEET_PERCENT", "value": 50})
        listed = self.cd.list_deployment_configs()["deploymentConfigsList"]
        self.assertTrue(set(self.PREDEFINED) <= set(listed))

    def test_custom_config_create_get_delete_in_use(self):
        routing = {"type": "TimeBasedCanary", "timeBasedCanary": {"canaryPercentage": 25, "canaryInterval": 45}}
        created = self.cd.create_deployment_config(deploymentConfigName="Canary25", computePlatform="Lambda",
                                                   trafficRoutingConfig=routing)
        info = self.cd.get_deployment_config(deploymentConfigName="Canary25")["deploymentConfigInfo"]
        self.assertEqual(info["deploymentConfigId"], created["deploymentConfigId"])
        self.assertEqual((info["computePlatform"], info["trafficRoutingConfig"]), ("Lambda", routing))
        self.assertIn("Canary25", self.cd.list_deployment_configs()["deploymentConfigsList"])
        self.refused(self.cd.create_deployment_config, "DeploymentConfigAlreadyExistsException",
                     deploymentConfigName="Canary25", computePlatform="Lambda")
        self.refused(self.cd.create_deployment_config, "DeploymentConfigAlreadyExistsException",
                     deploymentConfigName="CodeDeployDefault.LambdaAllAtOnce", computePlatform="Lambda")
        self.refused(self.cd.create_deployment_config, "InvalidTrafficRoutingConfigurationException",
                     deploymentConfigName="Bad", computePlatform="Lambda",
                     trafficRoutingConfig={"type": "TimeBasedLinear", "timeBasedCanary": {"canaryPercentage": 10,
                                                                                           "canaryInterval": 1}})
        self.refused(self.cd.create_deployment_config, "InvalidTrafficRoutingConfigurationException",
                     deploymentConfigName="Bad", computePlatform="Lambda",
                     trafficRoutingConfig={"type": "TimeBasedCanary", "timeBasedCanary": {"canaryPercentage": 0,
                                                                                           "canaryInterval": 1}})
        self.refused(self.cd.create_deployment_config, "InvalidMinimumHealthyHostValueException",
                     deploymentConfigName="Bad", computePlatform="Server")
        self.refused(self.cd.create_deployment_config, "InvalidDeploymentConfigNameException",
                     deploymentConfigName="no spaces allowed", computePlatform="Lambda")
        server = self.cd.create_deployment_config(deploymentConfigName="ThreeQuarters",
                                                  minimumHealthyHosts={"type": "FLEET_PERCENT", "value": 75})
        self.assertTrue(server["deploymentConfigId"])
        self.assertEqual(self.cd.get_deployment_config(deploymentConfigName="ThreeQuarters")["deploymentConfigInfo"]
                         ["computePlatform"], "Server")
        # In use by a deployment group: not deletable until the group is gone.
        self.cd.create_application(applicationName="cfg-app", computePlatform="Lambda")
        self.cd.create_deployment_group(applicationName="cfg-app", deploymentGroupName="g", serviceRoleArn=ROLE,
                                        deploymentConfigName="Canary25")
        self.refused(self.cd.delete_deployment_config, "DeploymentConfigInUseException", deploymentConfigName="Canary25")
        self.refused(self.cd.delete_deployment_config, "InvalidOperationException",
                     deploymentConfigName="CodeDeployDefault.LambdaAllAtOnce")
        self.cd.delete_deployment_group(applicationName="cfg-app", deploymentGroupName="g")
        self.cd.delete_deployment_config(deploymentConfigName="Canary25")
        self.refused(self.cd.get_deployment_config, "DeploymentConfigDoesNotExistException",
                     deploymentConfigName="Canary25")

    def test_groups_rename_and_tags(self):
        self.cd.create_application(applicationName="grp", computePlatform="Lambda",
                                   tags=[{"Key": "team", "Value": "a"}])
        self.cd.create_deployment_group(applicationName="grp", deploymentGroupName="one", serviceRoleArn=ROLE)
        info = self.cd.get_deployment_group(applicationName="grp", deploymentGroupName="one")["deploymentGroupInfo"]
        self.assertEqual((info["computePlatform"], info["deploymentConfigName"], info["deploymentStyle"]),
                         ("Lambda", "CodeDeployDefault.LambdaAllAtOnce",
                          {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"}))
        self.refused(self.cd.create_deployment_group, "DeploymentGroupAlreadyExistsException",
                     applicationName="grp", deploymentGroupName="one", serviceRoleArn=ROLE)
        self.refused(self.cd.create_deployment_group, "RoleRequiredException",
                     applicationName="grp", deploymentGroupName="two", serviceRoleArn="")
        self.cd.update_deployment_group(applicationName="grp", currentDeploymentGroupName="one",
                                        newDeploymentGroupName="two",
                                        deploymentConfigName="CodeDeployDefault.LambdaLinear10PercentEvery1Minute")
        self.assertEqual(self.cd.list_deployment_groups(applicationName="grp")["deploymentGroups"], ["two"])
        info = self.cd.get_deployment_group(applicationName="grp", deploymentGroupName="two")["deploymentGroupInfo"]
        self.assertEqual(info["deploymentConfigName"], "CodeDeployDefault.LambdaLinear10PercentEvery1Minute")
        self.assertEqual(info["serviceRoleArn"], ROLE)
        arn = f"arn:aws:codedeploy:us-east-1:{ACCOUNT}:application:grp"
        self.cd.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "test"}])
        self.cd.untag_resource(ResourceArn=arn, TagKeys=["team"])
        self.assertEqual(self.cd.list_tags_for_resource(ResourceArn=arn)["Tags"], [{"Key": "env", "Value": "test"}])
        self.cd.delete_application(applicationName="grp")
        self.refused(self.cd.list_deployment_groups, "ApplicationDoesNotExistException", applicationName="grp")

    def test_error_shapes(self):
        self.refused(self.cd.get_application, "ApplicationDoesNotExistException", applicationName="nope")
        self.cd.create_application(applicationName="errs", computePlatform="Lambda")
        self.refused(self.cd.get_deployment_group, "DeploymentGroupDoesNotExistException",
                     applicationName="errs", deploymentGroupName="nope")
        self.refused(self.cd.create_deployment, "ApplicationDoesNotExistException",
                     applicationName="nope", deploymentGroupName="g")
        self.refused(self.cd.create_deployment, "DeploymentGroupDoesNotExistException",
                     applicationName="errs", deploymentGroupName="nope")
        self.refused(self.cd.create_deployment_group, "DeploymentConfigDoesNotExistException",
                     applicationName="errs", deploymentGroupName="g", serviceRoleArn=ROLE,
                     deploymentConfigName="Missing")
        self.refused(self.cd.create_deployment_group, "InvalidDeploymentConfigNameException",
                     applicationName="errs", deploymentGroupName="g", serviceRoleArn=ROLE,
                     deploymentConfigName="CodeDeployDefault.ECSAllAtOnce")
        self.refused(self.cd.create_deployment_group, "InvalidAlarmConfigException",
                     applicationName="errs", deploymentGroupName="g", serviceRoleArn=ROLE,
                     alarmConfiguration={"enabled": True, "alarms": []})
        self.refused(self.cd.get_deployment, "DeploymentDoesNotExistException", deploymentId="d-AAAAAAAAA")
        self.refused(self.cd.get_deployment, "InvalidDeploymentIdException", deploymentId="not-an-id")
        self.refused(self.cd.stop_deployment, "DeploymentDoesNotExistException", deploymentId="d-AAAAAAAAA")
        # The raw awsJson1_1 error: HTTP 400, {"__type", "message"}.
        request = urllib.request.Request(
            self.endpoint, method="POST", data=json.dumps({"deploymentConfigName": "Missing"}).encode(),
            headers={"X-Amz-Target": "CodeDeploy_20141006.GetDeploymentConfig",
                     "Content-Type": "application/x-amz-json-1.1",
                     "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20250101/us-east-1/codedeploy/aws4_request, "
                                      "SignedHeaders=host, Signature=0"})
        with self.assertRaises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=10)
        self.assertEqual(caught.exception.code, 400)
        self.assertEqual(caught.exception.headers["Content-Type"], "application/x-amz-json-1.1")
        body = json.loads(caught.exception.read())
        self.assertEqual(set(body), {"__type", "message"})
        self.assertEqual(body["__type"], "DeploymentConfigDoesNotExistException")


class LambdaDeployments(CodeDeployCase):
    """Each test gets its own function `f<n>` (versions 1, 2; alias `live` on 1),
    application and deployment group."""

    counter = 0

    def setUp(self):
        type(self).counter += 1
        n = self.counter
        self.function, self.app, self.group = f"f{n}", f"app{n}", "g"
        role = f"arn:aws:iam::{ACCOUNT}:role/lambda-role"
        self.lam.create_function(FunctionName=self.function, Runtime="python3.12", Role=role,
                                 Handler="index.handler", Code={"ZipFile": code_zip("v0")})
        for v in (1, 2):
            self.lam.update_function_code(FunctionName=self.function, ZipFile=code_zip(f"v{v}"))
            self.lam.publish_version(FunctionName=self.function)
        self.lam.create_alias(FunctionName=self.function, Name="live", FunctionVersion="1")
        self.cd.create_application(applicationName=self.app, computePlatform="Lambda")

    def make_group(self, config, **kwargs):
        self.cd.create_deployment_group(applicationName=self.app, deploymentGroupName=self.group,
                                        serviceRoleArn=ROLE, deploymentConfigName=config, **kwargs)

    def deploy(self, revision=None, **kwargs):
        return self.cd.create_deployment(applicationName=self.app, deploymentGroupName=self.group,
                                         revision=revision or appspec(self.function, "live", "1", "2"),
                                         **kwargs)["deploymentId"]

    def alias(self):
        got = self.lam.get_alias(FunctionName=self.function, Name="live")
        return got["FunctionVersion"], (got.get("RoutingConfig") or {}).get("AdditionalVersionWeights")

    def custom_config(self, name, kind, percent, interval):
        section = "timeBasedCanary" if kind == "TimeBasedCanary" else "timeBasedLinear"
        prefix = "canary" if kind == "TimeBasedCanary" else "linear"
        self.cd.create_deployment_config(
            deploymentConfigName=name, computePlatform="Lambda",
            trafficRoutingConfig={"type": kind, section: {f"{prefix}Percentage": percent, f"{prefix}Interval": interval}})
        return name

    def test_canary(self):
        self.make_group("CodeDeployDefault.LambdaCanary10Percent5Minutes")
        deployment_id = self.deploy()
        self.assertRegex(deployment_id, r"^d-[A-Z0-9]{9}$")
        self.assertEqual(self.wait_for(lambda: self.alias()[1], what="the canary shift"), {"2": 0.1})
        self.assertEqual(self.alias()[0], "1")
        info = self.deployment(deployment_id)
        self.assertEqual(info["status"], "InProgress")
        target = self.cd.batch_get_deployment_targets(deploymentId=deployment_id,
                                                      targetIds=[f"{self.function}:live"])["deploymentTargets"][0]
        self.assertEqual(target["deploymentTargetType"], "LambdaTarget")
        lambda_target = target["lambdaTarget"]
        self.assertEqual(lambda_target["lambdaFunctionInfo"],
                         {"functionName": self.function, "functionAlias": "live", "currentVersion": "1",
                          "targetVersion": "2", "targetVersionWeight": 10.0})
        self.assertEqual([(e["lifecycleEventName"], e["status"]) for e in lambda_target["lifecycleEvents"]],
                         [("BeforeAllowTraffic", "Succeeded"), ("AllowTraffic", "InProgress"),
                          ("AfterAllowTraffic", "Pending")])
        shifted_at = time.monotonic()
        done = self.wait_status(deployment_id, "Succeeded", "Failed", "Stopped")
        # Five CodeDeploy minutes at MINUTE seconds each, give or take a tick.
        self.assertGreater(time.monotonic() - shifted_at, 5 * MINUTE - 0.3)
        self.assertEqual(done["status"], "Succeeded")
        self.assertEqual(self.alias(), ("2", None))
        self.assertEqual((done["creator"], done["computePlatform"], done["deploymentConfigName"]),
                         ("user", "Lambda", "CodeDeployDefault.LambdaCanary10Percent5Minutes"))
        self.assertEqual(done["deploymentOverview"]["Succeeded"], 1)
        self.assertLessEqual(done["createTime"], done["startTime"])
        self.assertLessEqual(done["startTime"], done["completeTime"])
        self.assertNotIn("errorInformation", done)
        events = self.cd.batch_get_deployment_targets(deploymentId=deployment_id, targetIds=[f"{self.function}:live"]
                                                      )["deploymentTargets"][0]["lambdaTarget"]["lifecycleEvents"]
        self.assertEqual([(e["lifecycleEventName"], e["status"]) for e in events],
                         [(n, "Succeeded") for n in ("BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic")])
        self.assertTrue(all(e["startTime"] <= e["endTime"] for e in events))
        self.assertEqual(self.cd.list_deployment_targets(deploymentId=deployment_id)["targetIds"],
                         [f"{self.function}:live"])
        group = self.cd.get_deployment_group(applicationName=self.app, deploymentGroupName=self.group)
        self.assertEqual(group["deploymentGroupInfo"]["lastSuccessfulDeployment"]["deploymentId"], deployment_id)

    def test_linear_step_by_step(self):
        self.make_group(self.custom_config("Linear25", "TimeBasedLinear", 25, 2))
        deployment_id = self.deploy()
        seen = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            state = self.alias()
            if not seen or seen[-1][0] != state:
                seen.append((state, time.monotonic()))
            if state == ("2", None):
                break
            time.sleep(0.02)
        seen = [(s, t) for s, t in seen if s != ("1", None)]  # the first shift may come before the first read
        self.assertEqual([s for s, _ in seen],
                         [("1", {"2": 0.25}), ("1", {"2": 0.5}), ("1", {"2": 0.75}), ("2", None)])
        # Two CodeDeploy minutes between steps.
        gaps = [b - a for (_, a), (_, b) in zip(seen, seen[1:])]
        for gap in gaps:
            self.assertAlmostEqual(gap, 2 * MINUTE, delta=0.2)
        self.assertEqual(self.wait_status(deployment_id, "Succeeded", "Failed")["status"], "Succeeded")

    def test_one_active_deployment_per_group(self):
        self.make_group("CodeDeployDefault.LambdaCanary10Percent30Minutes")
        first = self.deploy()
        message = self.refused(self.cd.create_deployment, "DeploymentLimitExceededException",
                               applicationName=self.app, deploymentGroupName=self.group,
                               revision=appspec(self.function, "live", "1", "2"))
        self.assertIn(first, message)
        self.cd.stop_deployment(deploymentId=first, autoRollbackEnabled=False)
        listed = self.cd.list_deployments(applicationName=self.app, deploymentGroupName=self.group,
                                          includeOnlyStatuses=["Stopped"])["deployments"]
        self.assertEqual(listed, [first])
        self.assertEqual(self.cd.list_deployments(applicationName=self.app, deploymentGroupName=self.group,
                                                  includeOnlyStatuses=["InProgress"])["deployments"], [])

    def test_stop_without_rollback_keeps_traffic(self):
        self.make_group("CodeDeployDefault.LambdaCanary10Percent30Minutes")
        deployment_id = self.deploy()
        self.wait_for(lambda: self.alias()[1], what="the canary shift")
        answer = self.cd.stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=False)
        self.assertEqual(answer["status"], "Succeeded")
        self.assertTrue(answer["statusMessage"])
        info = self.deployment(deployment_id)
        self.assertEqual(info["status"], "Stopped")
        self.assertEqual(info["errorInformation"]["code"], "MANUAL_STOP")
        self.assertIn("completeTime", info)
        self.assertNotIn("rollbackDeploymentId", info.get("rollbackInfo", {}))
        time.sleep(4 * MINUTE)
        self.assertEqual(self.alias(), ("1", {"2": 0.1}))  # components stay as they were
        self.refused(self.cd.stop_deployment, "DeploymentAlreadyCompletedException", deploymentId=deployment_id)

    def test_stop_with_rollback_restores_original(self):
        self.make_group("CodeDeployDefault.LambdaCanary10Percent30Minutes")
        deployment_id = self.deploy()
        self.wait_for(lambda: self.alias()[1], what="the canary shift")
        self.cd.stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=True)
        stopped = self.deployment(deployment_id)
        self.assertEqual(stopped["status"], "Stopped")
        rollback_id = stopped["rollbackInfo"]["rollbackDeploymentId"]
        rollback = self.wait_status(rollback_id, "Succeeded", "Failed", "Stopped")
        self.assertEqual(rollback["status"], "Succeeded")
        self.assertEqual(rollback["creator"], "codeDeployRollback")
        self.assertEqual(rollback["rollbackInfo"]["rollbackTriggeringDeploymentId"], deployment_id)
        self.assertEqual(self.alias(), ("1", None))
        self.assertTrue(self.deployment(deployment_id)["rollbackInfo"]["rollbackMessage"])

    def test_group_rollback_on_stop_request(self):
        self.make_group("CodeDeployDefault.LambdaCanary10Percent30Minutes",
                        autoRollbackConfiguration={"enabled": True, "events": ["DEPLOYMENT_STOP_ON_REQUEST"]})
        deployment_id = self.deploy()
        self.wait_for(lambda: self.alias()[1], what="the canary shift")
        self.cd.stop_deployment(deploymentId=deployment_id)
        rollback_id = self.deployment(deployment_id)["rollbackInfo"]["rollbackDeploymentId"]
        self.assertEqual(self.wait_status(rollback_id, "Succeeded", "Failed")["status"], "Succeeded")
        self.assertEqual(self.alias(), ("1", None))

    def test_alarm_stops_and_rolls_back(self):
        alarm = f"{self.function}-errors"
        self.cw.put_metric_alarm(AlarmName=alarm, Namespace="AWS/Lambda", MetricName="Errors", Statistic="Sum",
                                 Period=60, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
        self.cw.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="quiet")
        self.make_group("CodeDeployDefault.LambdaLinear10PercentEvery10Minutes",
                        alarmConfiguration={"enabled": True, "alarms": [{"name": alarm}]},
                        autoRollbackConfiguration={"enabled": True, "events": ["DEPLOYMENT_STOP_ON_ALARM"]})
        deployment_id = self.deploy()
        self.wait_for(lambda: self.alias()[1], what="the first shift")
        self.cw.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="errors")
        stopped = self.wait_status(deployment_id, "Stopped", "Failed", "Succeeded")  # nobody else polls
        self.assertEqual(stopped["status"], "Stopped")
        self.assertEqual(stopped["errorInformation"]["code"], "ALARM_ACTIVE")
        self.assertIn(alarm, stopped["errorInformation"]["message"])
        rollback_id = stopped["rollbackInfo"]["rollbackDeploymentId"]
        self.assertEqual(self.wait_status(rollback_id, "Succeeded", "Failed")["status"], "Succeeded")
        self.assertEqual(self.alias(), ("1", None))
        group = self.cd.get_deployment_group(applicationName=self.app, deploymentGroupName=self.group)
        self.assertEqual(group["deploymentGroupInfo"]["alarmConfiguration"],
                         {"enabled": True, "ignorePollAlarmFailure": False, "alarms": [{"name": alarm}]})

    def test_failed_hook_rolls_back(self):
        self.make_group("CodeDeployDefault.LambdaAllAtOnce",
                        autoRollbackConfiguration={"enabled": True, "events": ["DEPLOYMENT_FAILURE"]})
        deployment_id = self.deploy(appspec(self.function, "live", "1", "2", hooks={"AfterAllowTraffic": "check"}))
        pending = self.wait_for(lambda: [h for h in self.hook_executions() if h["deploymentId"] == deployment_id],
                                what="the hook execution")
        self.assertEqual((pending[0]["lifecycleEventName"], pending[0]["functionName"]), ("AfterAllowTraffic", "check"))
        self.assertEqual(self.alias(), ("2", None))  # all traffic shifted before AfterAllowTraffic
        self.refused(self.cd.put_lifecycle_event_hook_execution_status, "InvalidLifecycleEventHookExecutionStatusException",
                     deploymentId=deployment_id, lifecycleEventHookExecutionId=pending[0]["lifecycleEventHookExecutionId"],
                     status="Skipped")
        self.refused(self.cd.put_lifecycle_event_hook_execution_status, "InvalidLifecycleEventHookExecutionIdException",
                     deploymentId=deployment_id, lifecycleEventHookExecutionId="nope", status="Succeeded")
        answer = self.cd.put_lifecycle_event_hook_execution_status(
            deploymentId=deployment_id, lifecycleEventHookExecutionId=pending[0]["lifecycleEventHookExecutionId"],
            status="Failed")
        self.assertEqual(answer["lifecycleEventHookExecutionId"], pending[0]["lifecycleEventHookExecutionId"])
        failed = self.wait_status(deployment_id, "Failed", "Succeeded")
        self.assertEqual((failed["status"], failed["errorInformation"]["code"]), ("Failed", "HOOK_EXECUTION_FAILURE"))
        rollback_id = failed["rollbackInfo"]["rollbackDeploymentId"]
        self.assertEqual(self.wait_status(rollback_id, "Succeeded", "Failed")["status"], "Succeeded")
        self.assertEqual(self.alias(), ("1", None))

    def test_alias_not_on_current_version_fails(self):
        self.make_group("CodeDeployDefault.LambdaAllAtOnce")
        deployment_id = self.deploy(appspec(self.function, "live", "2", "1"))
        failed = self.wait_status(deployment_id, "Failed", "Succeeded")
        self.assertEqual(failed["errorInformation"]["code"], "INVALID_LAMBDA_CONFIGURATION")
        self.assertEqual(self.alias(), ("1", None))
        deployment_id = self.deploy(appspec(self.function, "live", "1", "7"))
        self.assertEqual(self.wait_status(deployment_id, "Failed")["errorInformation"]["code"],
                         "INVALID_LAMBDA_FUNCTION")
        self.refused(self.cd.create_deployment, "InvalidRevisionException", applicationName=self.app,
                     deploymentGroupName=self.group,
                     revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": "[unbalanced"}})

    def hook_executions(self):
        with urllib.request.urlopen(f"{self.endpoint}/_codedeploy/hook-executions", timeout=10) as response:
            return [h for h in json.loads(response.read())["hookExecutions"] if h["status"] == "InProgress"]


class EcsDeployments(CodeDeployCase):
    def test_blue_green_shifts_listener_and_swaps_task_sets(self):
        ec2, elb, ecs = (aws_client(s, self.endpoint) for s in ("ec2", "elbv2", "ecs"))
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{z}")
                   ["Subnet"]["SubnetId"] for i, z in ((1, "a"), (2, "b"))]
        lb = elb.create_load_balancer(Name="alb", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
        tg = {n: elb.create_target_group(Name=n, Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip")
              ["TargetGroups"][0]["TargetGroupArn"] for n in ("blue", "green")}
        prod = elb.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=80, DefaultActions=[
            {"Type": "forward", "TargetGroupArn": tg["blue"]}])["Listeners"][0]["ListenerArn"]
        test = elb.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=8080, DefaultActions=[
            {"Type": "forward", "TargetGroupArn": tg["blue"]}])["Listeners"][0]["ListenerArn"]
        ecs.create_cluster(clusterName="c")
        taskdefs = [ecs.register_task_definition(family="web", containerDefinitions=[
            {"name": "web", "image": f"web:{v}", "memory": 128, "portMappings": [{"containerPort": 80}]}])
            ["taskDefinition"]["taskDefinitionArn"] for v in (1, 2)]
        ecs.create_service(cluster="c", serviceName="s", taskDefinition=taskdefs[0], desiredCount=2,
                           deploymentController={"type": "CODE_DEPLOY"},
                           loadBalancers=[{"targetGroupArn": tg["blue"], "containerName": "web", "containerPort": 80}])

        def task_sets():
            return sorted((t["taskDefinition"], t["status"])
                          for t in ecs.describe_task_sets(cluster="c", service="s")["taskSets"])

        def weights(listener=prod):
            action = elb.describe_listeners(ListenerArns=[listener])["Listeners"][0]["DefaultActions"][0]
            groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or []
            return {g["TargetGroupArn"]: g["Weight"] for g in groups}

        self.assertEqual(task_sets(), [(taskdefs[0], "PRIMARY")])  # AWS makes the first task set of a CODE_DEPLOY service
        self.cd.create_application(applicationName="ecs-app", computePlatform="ECS")
        group = dict(applicationName="ecs-app", deploymentGroupName="g", serviceRoleArn=ROLE,
                     deploymentConfigName="CodeDeployDefault.ECSCanary10Percent5Minutes",
                     ecsServices=[{"clusterName": "c", "serviceName": "s"}],
                     loadBalancerInfo={"targetGroupPairInfoList": [{
                         "targetGroups": [{"name": "blue"}, {"name": "green"}],
                         "prodTrafficRoute": {"listenerArns": [prod]},
                         "testTrafficRoute": {"listenerArns": [test]}}]},
                     blueGreenDeploymentConfiguration={"terminateBlueInstancesOnDeploymentSuccess": {
                         "action": "TERMINATE", "terminationWaitTimeInMinutes": 60}})
        self.refused(self.cd.create_deployment_group, "InvalidDeploymentStyleException", **group)
        group["deploymentStyle"] = {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"}
        self.cd.create_deployment_group(**group)
        spec = {"version": 0.0, "Resources": [{"TargetService": {"Type": "AWS::ECS::Service", "Properties": {
            "TaskDefinition": taskdefs[1], "LoadBalancerInfo": {"ContainerName": "web", "ContainerPort": 80}}}}]}
        deployment_id = self.cd.create_deployment(
            applicationName="ecs-app", deploymentGroupName="g",
            revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": json.dumps(spec)}})["deploymentId"]
        self.assertEqual(self.wait_for(lambda: weights() or None, what="the canary shift"),
                         {tg["blue"]: 90, tg["green"]: 10})
        self.assertEqual(task_sets(), [(taskdefs[0], "PRIMARY"), (taskdefs[1], "ACTIVE")])
        self.assertEqual(weights(test), {tg["blue"]: 0, tg["green"]: 100})  # AllowTestTraffic
        target = self.cd.batch_get_deployment_targets(deploymentId=deployment_id, targetIds=["c:s"])[
            "deploymentTargets"][0]
        self.assertEqual(target["deploymentTargetType"], "ECSTarget")
        info = {t["taskSetLabel"]: (t["trafficWeight"], t["targetGroup"]["name"], t["status"])
                for t in target["ecsTarget"]["taskSetsInfo"]}
        self.assertEqual(info, {"Blue": (90.0, "blue", "PRIMARY"), "Green": (10.0, "green", "ACTIVE")})
        self.assertEqual([e["lifecycleEventName"] for e in target["ecsTarget"]["lifecycleEvents"]],
                         ["BeforeInstall", "Install", "AfterInstall", "AllowTestTraffic", "AfterAllowTestTraffic",
                          "BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic"])
        # After five CodeDeploy minutes all traffic is on green and the replacement is primary; the
        # original stays for the termination wait, then goes.
        self.wait_for(lambda: weights() == {tg["blue"]: 0, tg["green"]: 100}, what="the full shift")
        self.assertEqual(task_sets(), [(taskdefs[0], "ACTIVE"), (taskdefs[1], "PRIMARY")])
        time.sleep(2 * MINUTE)  # the termination wait (60 CodeDeploy minutes) holds the original
        waiting = self.deployment(deployment_id)
        self.assertEqual((waiting["status"], waiting["instanceTerminationWaitTimeStarted"]), ("InProgress", True))
        self.assertEqual(task_sets(), [(taskdefs[0], "ACTIVE"), (taskdefs[1], "PRIMARY")])
        self.refused(self.cd.continue_deployment, "DeploymentIsNotInReadyStateException",
                     deploymentId=deployment_id, deploymentWaitType="READY_WAIT")
        self.cd.continue_deployment(deploymentId=deployment_id, deploymentWaitType="TERMINATION_WAIT")
        done = self.wait_status(deployment_id, "Succeeded", "Failed", "Stopped")
        self.assertEqual(done["status"], "Succeeded")
        self.assertEqual(task_sets(), [(taskdefs[1], "PRIMARY")])

        # Next deployment: green is now the original; stopping with rollback puts traffic back.
        deployment_id = self.cd.create_deployment(
            applicationName="ecs-app", deploymentGroupName="g",
            revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": json.dumps(
                {**spec, "Resources": [{"TargetService": {"Type": "AWS::ECS::Service", "Properties": {
                    "TaskDefinition": taskdefs[0],
                    "LoadBalancerInfo": {"ContainerName": "web", "ContainerPort": 80}}}}]})}})["deploymentId"]
        self.assertEqual(self.wait_for(lambda: weights() if weights().get(tg["blue"]) == 10 else None,
                                       what="the second canary shift"), {tg["blue"]: 10, tg["green"]: 90})
        second = self.cd.batch_get_deployments(deploymentIds=[deployment_id])["deploymentsInfo"][0]
        self.assertEqual(second["previousRevision"], done["revision"])  # the group's last successful revision
        self.cd.stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=True)
        rollback_id = self.deployment(deployment_id)["rollbackInfo"]["rollbackDeploymentId"]
        self.assertEqual(self.wait_status(rollback_id, "Succeeded", "Failed")["status"], "Succeeded")
        self.assertEqual(weights(), {tg["blue"]: 0, tg["green"]: 100})  # back on this deployment's original
        self.assertEqual(weights(test), {tg["blue"]: 0, tg["green"]: 100})
        self.assertEqual(task_sets(), [(taskdefs[1], "PRIMARY")])
