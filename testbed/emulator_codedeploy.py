"""AWS CodeDeploy (Lambda and Amazon ECS deployments) as AWS documents it.

moto 5.2.5's CodeDeploy keeps applications, deployment groups and
deployments as records and nothing more: a deployment stays `Created`
forever, StopDeployment, GetDeploymentConfig, CreateDeploymentConfig,
ListDeploymentTargets and BatchGetDeploymentTargets answer HTTP 500, no input
is validated, GetDeploymentGroup shows `alarmConfiguration: {}` whatever was
given, and deployment ids are UUIDs (measured with boto3 against moto's
server; the 500s are its NotImplementedError page).

`CodeDeployFront` is a WSGI middleware in front of moto. Every request with
`X-Amz-Target: CodeDeploy_20141006.<Operation>` (the awsJson1_1 protocol that
boto3 and `aws-sdk-codedeploy` 1.124 use) is answered here, from a store of
this module's own (applications, deployment groups, deployment configs,
deployments, tags), per account and region. moto's CodeDeploy backend is not
used at all: keeping half the state there and half here would let the two
disagree. The deployment engine drives moto's Lambda, ECS, ELBv2 and
CloudWatch backends in-process (the same objects the other services'
requests read), so a test sees the traffic shift through Lambda's GetAlias or
ELBv2's DescribeListeners. `POST /moto-api/reset` clears this store too.

Wiring (emulator.py): `add_arguments(parser)` adds `--codedeploy-minute`,
`wrap(app, args)` puts the middleware in front and starts the engine thread.

Checked with the real Rust SDK (aws-sdk-codedeploy 1.124 with aws-config
1.8, a throwaway crate): GetDeploymentConfig (the TrafficRoutingConfig and
timestamps parsed), a missing config giving
`is_deployment_config_does_not_exist_exception()`, GetDeployment of a
running Lambda canary (overview, rollback configuration, style),
BatchGetDeploymentTargets (LambdaTarget with its lifecycle events and
targetVersionWeight 10.0), StopDeployment with the group's rollback.

Conventions below: "moto" is what moto 5.2.5 does, "AWS" what the CodeDeploy
API reference / user guide documents, "here" what this module does. Error
messages are the emulator's own wording. Every error is HTTP 400 with
`{"__type": "<Code>", "message": "..."}` (and `x-amzn-ErrorType: <Code>`),
the awsJson1_1 error shape; timestamps are epoch seconds (numbers).

Operations
----------
Applications: CreateApplication, GetApplication, BatchGetApplications,
ListApplications, UpdateApplication, DeleteApplication.
Deployment groups: CreateDeploymentGroup, GetDeploymentGroup,
BatchGetDeploymentGroups, ListDeploymentGroups, UpdateDeploymentGroup,
DeleteDeploymentGroup.
Deployment configs: CreateDeploymentConfig, GetDeploymentConfig,
ListDeploymentConfigs, DeleteDeploymentConfig.
Deployments: CreateDeployment, GetDeployment, BatchGetDeployments,
ListDeployments, StopDeployment, ContinueDeployment,
PutLifecycleEventHookExecutionStatus, ListDeploymentTargets,
BatchGetDeploymentTargets, GetDeploymentTarget.
Tags: TagResource, UntagResource, ListTagsForResource.
Any other CodeDeploy operation (on-premises instances, revisions, GitHub
tokens, BatchGetDeploymentInstances, ...): HTTP 400
`UnknownOperationException` "not modelled by the emulator".

1. Deployment configurations
----------------------------
moto: GetDeploymentConfig / CreateDeploymentConfig answer 500.
AWS ("Working with deployment configurations"): predefined
CodeDeployDefault.OneAtATime, HalfAtATime, AllAtOnce (Server: minimum
healthy hosts), LambdaAllAtOnce, LambdaCanary10Percent5Minutes / 10Minutes /
15Minutes / 30Minutes, LambdaLinear10PercentEvery1Minute / 2Minutes /
3Minutes / 10Minutes, ECSAllAtOnce, ECSCanary10Percent5Minutes / 15Minutes,
ECSLinear10PercentEvery1Minutes / 3Minutes. Canary: two increments (the
percentage, then the rest after the interval); linear: equal increments with
the interval between them; all-at-once: everything at once.
Here: all of these (Server ones: OneAtATime FLEET_PERCENT 100, HalfAtATime
FLEET_PERCENT 50, AllAtOnce HOST_COUNT 0, each with trafficRoutingConfig
AllAtOnce). CreateDeploymentConfig: computePlatform Server (default), Lambda
or ECS, else InvalidComputePlatformException; Server needs
minimumHealthyHosts (type HOST_COUNT >= 0 or FLEET_PERCENT 0..99, else
InvalidMinimumHealthyHostValueException) and takes no time-based routing;
Lambda/ECS take no minimumHealthyHosts (InvalidMinimumHealthyHostValueException)
and default to trafficRoutingConfig AllAtOnce; TimeBasedCanary needs
timeBasedCanary {canaryPercentage 1..99, canaryInterval >= 1},
TimeBasedLinear needs timeBasedLinear {linearPercentage 1..99,
linearInterval >= 1}, anything else InvalidTrafficRoutingConfigurationException;
zonalConfig only for Server (InvalidZonalDeploymentConfigurationException).
Name: 1..100 of [A-Za-z0-9+=,.@_-] (InvalidDeploymentConfigNameException),
missing: DeploymentConfigNameRequiredException, taken (predefined included):
DeploymentConfigAlreadyExistsException. GetDeploymentConfig of an unknown
name: DeploymentConfigDoesNotExistException. DeleteDeploymentConfig: a
predefined one is InvalidOperationException, one named by a deployment group
or by a deployment not yet complete is DeploymentConfigInUseException, an
unknown name succeeds silently (the operation documents no "does not exist"
error). ListDeploymentConfigs: predefined then custom, sorted by name,
pages of 100 with nextToken.

2. Applications and deployment groups
-------------------------------------
moto keeps them but validates nothing and loses alarmConfiguration.
Here (own store): names as above (InvalidApplicationNameException /
InvalidDeploymentGroupNameException), the *RequiredException errors,
ApplicationAlreadyExistsException, ApplicationDoesNotExistException,
DeploymentGroupAlreadyExistsException, DeploymentGroupDoesNotExistException.
serviceRoleArn required (RoleRequiredException) and an IAM role ARN
(InvalidRoleException). alarmConfiguration: at most 10 alarms
(AlarmsLimitExceededException); enabled with no alarms, an empty or
over-255-character name, or a name twice: InvalidAlarmConfigException.
autoRollbackConfiguration: events among DEPLOYMENT_FAILURE,
DEPLOYMENT_STOP_ON_ALARM, DEPLOYMENT_STOP_ON_REQUEST, at least one when
enabled (InvalidAutoRollbackConfigException). The deployment config must
exist (DeploymentConfigDoesNotExistException) and be of the application's
compute platform (InvalidDeploymentConfigNameException). Without one the
group gets the platform's all-at-once config (see "ambiguities").
Lambda groups get deploymentStyle BLUE_GREEN / WITH_TRAFFIC_CONTROL.
ECS groups must have that style (InvalidDeploymentStyleException), exactly
one ecsServices entry naming an existing service of moto's ECS
(InvalidECSServiceException) whose deployment controller is CODE_DEPLOY
(InvalidECSServiceException) and that no other group uses
(ECSServiceMappingLimitExceededException), and
loadBalancerInfo.targetGroupPairInfoList with one pair of two target groups
(by name, existing in moto's ELBv2) and a prodTrafficRoute with one listener
ARN (InvalidTargetGroupPairException / InvalidLoadBalancerInfoException).
GetDeploymentGroup / BatchGetDeploymentGroups show what was given, plus
lastAttemptedDeployment, lastSuccessfulDeployment and targetRevision.
UpdateDeploymentGroup replaces only the fields given (newDeploymentGroupName
renames). DeleteDeploymentGroup / DeleteApplication of something missing
succeed (no "does not exist" error is documented for them); deleting an
application deletes its groups. A running deployment keeps the group
settings it started with; one not yet started when its application or group
is deleted fails with APPLICATION_MISSING / DEPLOYMENT_GROUP_MISSING (the
documented meaning of those codes). Renaming an application or group
(UpdateApplication / UpdateDeploymentGroup) carries its deployments along.

3. Deployments
--------------
moto: ids are UUIDs, status stays `Created`, nothing is validated.
AWS: ids are `d-` and 9 characters; statuses Created, Queued, InProgress,
Baking, Succeeded, Failed, Stopped, Ready; one deployment at a time per
deployment group.
Here:
* ids are `d-` + 9 characters of [A-Z0-9], e.g. `d-7Q2ZK0B1X`. GetDeployment
  of anything else: InvalidDeploymentIdException; of an unknown id:
  DeploymentDoesNotExistException.
* CreateDeployment checks, in order: applicationName
  (ApplicationNameRequiredException / ApplicationDoesNotExistException),
  deploymentGroupName (DeploymentGroupNameRequiredException /
  DeploymentGroupDoesNotExistException), revision (RevisionRequiredException;
  Lambda: revisionType `AppSpecContent` or `String`, ECS: `AppSpecContent`,
  with non-empty content that parses as a JSON or YAML mapping and, when
  sha256 is given, has that SHA-256: else InvalidRevisionException),
  deploymentConfigName (exists, same platform), targetInstances /
  ignoreApplicationStopFailures / updateOutdatedInstancesOnly (not for
  Lambda or ECS: InvalidTargetInstancesException,
  InvalidIgnoreApplicationStopFailuresValueException,
  InvalidUpdateOutdatedInstancesOnlyValueException), overrideAlarmConfiguration
  and autoRollbackConfiguration as for groups; then one active deployment
  (Created, Queued, InProgress, Baking, Ready) per group: a second one is
  DeploymentLimitExceededException naming the active one. Server (EC2 /
  on-premises) deployments are not modelled: InvalidComputePlatformException.
* What the AppSpec says is checked when the deployment starts, as on AWS
  (these are deployment failures with an ErrorInformation code, not API
  errors): Lambda: one resource of type AWS::Lambda::Function with Name,
  Alias, CurrentVersion, TargetVersion (keys in any case, as the guide
  writes them lowercase and SAM capitalised); a missing property or
  TargetVersion equal to CurrentVersion: INVALID_LAMBDA_CONFIGURATION; a
  missing function, alias or version: INVALID_LAMBDA_FUNCTION; the alias not
  pointing at CurrentVersion: INVALID_LAMBDA_CONFIGURATION. ECS: one
  AWS::ECS::Service resource with TaskDefinition and LoadBalancerInfo
  {ContainerName, ContainerPort} (INVALID_REVISION when missing, when the
  task definition does not exist in moto's ECS or has no such container);
  the group's service, target groups or listeners gone:
  INVALID_ECS_SERVICE / ELASTIC_LOAD_BALANCING_INVALID.
* Lifecycle: `Created` until the engine picks it up (next tick), then
  `InProgress` (startTime), then `Succeeded` (completeTime), or `Failed` /
  `Stopped` with errorInformation {code, message}. Queued, Baking and Ready
  are never used (they belong to EC2 deployments, zonal configs and ECS
  `deploymentReadyOption` STOP_DEPLOYMENT waits, none modelled).
* Lambda (one target, id `<function>:<alias>`): lifecycle events
  BeforeAllowTraffic, AllowTraffic, AfterAllowTraffic. AllowTraffic shifts
  the alias: each step sets RoutingConfig.AdditionalVersionWeights
  {TargetVersion: percent/100} on the alias (FunctionVersion stays
  CurrentVersion); the last step sets FunctionVersion = TargetVersion and
  clears the routing. Canary p/I: p at once, everything I minutes later.
  Linear p/I: p, 2p, ... one step every I minutes, everything when the next
  step would reach 100 % (10 %/1 min: 10 % at t0 ... 90 % at t0+8, 100 % at
  t0+9). AllAtOnce: everything at once. The alias is written through moto's
  Lambda backend as UpdateAlias does (new RevisionId each step).
* ECS (one target, id `<cluster>:<service>`): lifecycle events BeforeInstall,
  Install, AfterInstall, AllowTestTraffic, AfterAllowTestTraffic,
  BeforeAllowTraffic, AllowTraffic, AfterAllowTraffic. The original task set
  is the service's PRIMARY one; its target group (the one of the pair it is
  registered with, else the one the production listener sends most traffic
  to) is blue, the other green. Install creates the replacement task set
  (TaskDefinition, green target group with ContainerName / ContainerPort,
  scale 100 %, the service's launch type, PlatformVersion and
  NetworkConfiguration when given). AllowTestTraffic points the test
  listener, if any, at green (forward, weight 100). AllowTraffic sets the
  production listener's default action to `forward` with ForwardConfig
  TargetGroups [blue: 100-p, green: p] (weights as ModifyListener takes
  them, percentages), on the config's schedule, ending at [blue 0,
  green 100]; then the replacement task set becomes PRIMARY (moto's
  UpdateServicePrimaryTaskSet). After AfterAllowTraffic the deployment waits
  blueGreenDeploymentConfiguration.terminateBlueInstancesOnDeploymentSuccess
  .terminationWaitTimeInMinutes (default 0) with
  instanceTerminationWaitTimeStarted true and status InProgress, then
  deletes the original task set and succeeds (action KEEP_ALIVE: keeps it and
  succeeds at once). ContinueDeployment(deploymentWaitType TERMINATION_WAIT)
  ends that wait early; any other ContinueDeployment of a running ECS
  deployment: DeploymentIsNotInReadyStateException (deploymentWaitType
  defaults to READY_WAIT; another value: InvalidDeploymentWaitTypeException;
  a complete deployment: DeploymentAlreadyCompletedException; Lambda:
  UnsupportedActionForDeploymentTypeException).
  moto's CreateService makes no task set for a `CODE_DEPLOY` service (AWS
  makes the first PRIMARY one from the service's task definition and load
  balancer); here, `install()` patches moto's ECS backend so that such a
  service gets that PRIMARY task set.
* Hooks (AppSpec `Hooks`): the emulator does not invoke hook functions.
  When a hooked event starts it is InProgress and gets a hook execution id,
  listed by the test-only `GET /_codedeploy/hook-executions` (JSON
  `{"hookExecutions": [{"deploymentId", "lifecycleEventHookExecutionId",
  "lifecycleEventName", "functionName", "status"}]}`), and waits for
  PutLifecycleEventHookExecutionStatus (status Succeeded or Failed, else
  InvalidLifecycleEventHookExecutionStatusException; unknown id:
  InvalidLifecycleEventHookExecutionIdException; already reported or the
  event over: LifecycleEventAlreadyCompletedException). Failed fails the
  deployment with HOOK_EXECUTION_FAILURE; no report within 60 CodeDeploy
  minutes (the documented hour) fails it with TIMEOUT.
* deploymentOverview counts the one target by status; previousRevision is
  the group's last successful revision; deploymentStyle, loadBalancerInfo,
  blueGreenDeploymentConfiguration, autoRollbackConfiguration and
  overrideAlarmConfiguration are shown as used.
* ListDeployments: applicationName and deploymentGroupName together or
  neither (ApplicationNameRequiredException /
  DeploymentGroupNameRequiredException), unknown ones are
  ApplicationDoesNotExistException / DeploymentGroupDoesNotExistException,
  includeOnlyStatuses (InvalidDeploymentStatusException for other values),
  createTimeRange (InvalidTimeRangeException when start > end), externalId;
  newest first, pages of 100. BatchGetDeployments: at most 25 ids
  (BatchLimitExceededException), unknown ids are left out.

4. Stop, alarms, rollback
-------------------------
moto: StopDeployment answers 500; alarms and rollbacks are ignored.
AWS: StopDeployment returns {status: Pending|Succeeded, statusMessage}; a
stopped deployment runs no further lifecycle events; without rollback "the
components remain in their current state"; with rollback CodeDeploy
redeploys the last good revision as a new deployment (creator
`codeDeployRollback`), Lambda back to the original version, ECS rerouting
traffic to the original task set. Alarms (up to 10) named in the group's
(or the deployment's override) alarmConfiguration stop the deployment when
one is in ALARM; ignorePollAlarmFailure decides what happens when their
state cannot be read.
Here:
* StopDeployment: the deployment becomes Stopped at once (completeTime,
  errorInformation {MANUAL_STOP, ...}), the answer is {status: "Succeeded",
  statusMessage}. A complete one: DeploymentAlreadyCompletedException.
  Traffic stays where it was unless rolled back: autoRollbackEnabled true,
  or not given and the (deployment's or group's) autoRollbackConfiguration
  enabled with DEPLOYMENT_STOP_ON_REQUEST. autoRollbackEnabled false never
  rolls back.
* Alarms: while a deployment is Created or InProgress (so also before the
  first shift and during the ECS termination wait), every engine tick reads
  each configured alarm's state from moto's CloudWatch backend
  (DescribeAlarms' data). One in ALARM stops the deployment: Stopped,
  ALARM_ACTIVE "... alarms activated: NAME". An alarm that does not exist
  counts as a failed poll: stop with ALARM_ACTIVE unless
  ignorePollAlarmFailure. Rolled back when autoRollbackConfiguration has
  DEPLOYMENT_STOP_ON_ALARM.
* A failed deployment is rolled back when autoRollbackConfiguration has
  DEPLOYMENT_FAILURE.
* A rollback deployment is created only when the deployment changed
  something (Lambda: the alias was written; ECS: the replacement task set
  exists); otherwise rollbackInfo.rollbackMessage says there was nothing to
  roll back. It is a new deployment (creator `codeDeployRollback`, same
  group, revision = an AppSpec from the target back to the original), which
  goes Created -> InProgress -> Succeeded within a tick or two and restores
  everything at once (Lambda: FunctionVersion = CurrentVersion, routing
  cleared; ECS: production and test listeners 100 % blue, the original task
  set PRIMARY again, the replacement deleted). No hooks run in it.
  rollbackInfo: on the stopped/failed one {rollbackDeploymentId,
  rollbackMessage}, on the rollback {rollbackTriggeringDeploymentId,
  rollbackMessage}.

5. Targets
----------
moto: 500. AWS: one target per Lambda/ECS deployment; BatchGetDeploymentTargets
takes that one id (more: DeploymentTargetListSizeExceededException).
Here: ListDeploymentTargets gives the one target id (targetFilters
TargetStatus honoured, other filter names InvalidTargetFilterNameException);
BatchGetDeploymentTargets / GetDeploymentTarget give {deploymentTargetType:
LambdaTarget|ECSTarget, lambdaTarget|ecsTarget: {deploymentId, targetId,
targetArn (the alias ARN / the service ARN), status (Pending, InProgress,
Succeeded, Failed, Skipped), lastUpdatedAt, lifecycleEvents
[{lifecycleEventName, status (Pending, InProgress, Succeeded, Failed,
Skipped), startTime, endTime, diagnostics {errorCode, message}}]}};
lambdaTarget.lambdaFunctionInfo {functionName, functionAlias,
currentVersion, targetVersion, targetVersionWeight (percent, 0-100)};
ecsTarget.taskSetsInfo [{identifer (sic, the API's spelling), desiredCount,
pendingCount, runningCount, status, trafficWeight (percent),
targetGroup {name}, taskSetLabel Blue|Green}]. A deployment still Created:
DeploymentNotStartedException; an unknown target id:
DeploymentTargetDoesNotExistException.

6. Time (test-only scale)
-------------------------
CodeDeploy schedules are in minutes. `--codedeploy-minute SECONDS`
(environment EMULATOR_CODEDEPLOY_MINUTE; the option wins) is how many real
seconds one CodeDeploy minute lasts: default 60, as on AWS; tests use
e.g. 1. Every wait (canary/linear intervals, termination wait, the hook
hour) is measured in those minutes. A background thread ("codedeploy-engine")
advances every deployment every tick = one CodeDeploy second (minute/60
real seconds, at least 0.02 s, at most 1 s), so deployments progress and
alarms are polled with nobody asking; each CodeDeploy request also advances
the engine first. Timestamps in answers are real wall-clock times.

Not modelled: EC2/on-premises deployments, instances and revisions
(S3/GitHub revisions), Queued/Baking/Ready, deploymentReadyOption waits,
zonal configs' behaviour (stored only), triggers (stored only), invoking
hook functions, the RPCv2-CBOR protocol (the SDKs in use speak awsJson1_1),
throttling, cross-account ARNs.

Ambiguities and the choice made here
-------------------------------------
* Default config of a Lambda/ECS group: the API reference says
  CodeDeployDefault.OneAtATime, which is a Server config; here Lambda groups
  get CodeDeployDefault.LambdaAllAtOnce and ECS groups ECSAllAtOnce.
* The user guide spells CodeDeployDefault.ECSCanary10percent5Minutes with a
  lowercase "percent"; the API and CloudFormation use ECSCanary10Percent...
  Both spellings are accepted, the capitalised one is listed.
* targetVersionWeight / trafficWeight are "the percentage": reported as
  0-100 (Lambda's own weights are fractions 0-1).
* StopDeployment's Pending status is never used: stops take effect at once.
* Lifecycle events after a stop: the running one Failed, the later ones
  Skipped.
* Whether a rollback deployment of a Lambda deployment shifts gradually is
  not documented; here it restores at once.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import secrets
import string
import threading
import time
import traceback
import uuid
from typing import Any, Callable, Iterable, Iterator

import yaml


import emulator_engine  # the engine thread and its tick
import emulator_route53  # the account and region of a request, found as moto finds them

TARGET_PREFIX = "CodeDeploy_20141006."
MINUTE_ENV = "EMULATOR_CODEDEPLOY_MINUTE"
DEFAULT_MINUTE = 60.0
HOOK_TIMEOUT_MINUTES = 60
PAGE = 100
NAME = re.compile(r"[A-Za-z0-9+=,.@_-]{1,100}")
DEPLOYMENT_ID = re.compile(r"d-[A-Z0-9]{9}")
ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:role/.+")
PLATFORMS = ("Server", "Lambda", "ECS")
STATUSES = ("Created", "Queued", "InProgress", "Baking", "Succeeded", "Failed", "Stopped", "Ready")
ACTIVE = ("Created", "Queued", "InProgress", "Baking", "Ready")
ROLLBACK_EVENTS = ("DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM", "DEPLOYMENT_STOP_ON_REQUEST")
LAMBDA_EVENTS = ("BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic")
ECS_EVENTS = ("BeforeInstall", "Install", "AfterInstall", "AllowTestTraffic", "AfterAllowTestTraffic",
              "BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic")
LAMBDA_HOOKS = ("BeforeAllowTraffic", "AfterAllowTraffic")
ECS_HOOKS = ("BeforeInstall", "AfterInstall", "AfterAllowTestTraffic", "BeforeAllowTraffic", "AfterAllowTraffic")
# Predefined configs are dated to when CodeDeploy gained Lambda support; only the shape matters.
PREDEFINED_TIME = 1511827200.0


class CodeDeployError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


class DeploymentFailure(Exception):
    """Raised inside a deployment's flow: the deployment fails with this ErrorInformation."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def _predefined() -> dict[str, dict]:
    def config(name: str, platform: str, routing: dict, healthy: dict | None = None) -> dict:
        info = {
            "deploymentConfigId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"codedeploy:{name}")),
            "deploymentConfigName": name,
            "createTime": PREDEFINED_TIME,
            "computePlatform": platform,
            "trafficRoutingConfig": routing,
        }
        if healthy is not None:
            info["minimumHealthyHosts"] = healthy
        return info

    def canary(p: int, i: int) -> dict:
        return {"type": "TimeBasedCanary", "timeBasedCanary": {"canaryPercentage": p, "canaryInterval": i}}

    def linear(p: int, i: int) -> dict:
        return {"type": "TimeBasedLinear", "timeBasedLinear": {"linearPercentage": p, "linearInterval": i}}

    once = {"type": "AllAtOnce"}
    out = {}
    for c in (
        config("CodeDeployDefault.OneAtATime", "Server", once, {"type": "FLEET_PERCENT", "value": 100}),
        config("CodeDeployDefault.HalfAtATime", "Server", once, {"type": "FLEET_PERCENT", "value": 50}),
        config("CodeDeployDefault.AllAtOnce", "Server", once, {"type": "HOST_COUNT", "value": 0}),
        config("CodeDeployDefault.LambdaAllAtOnce", "Lambda", once),
        config("CodeDeployDefault.LambdaCanary10Percent5Minutes", "Lambda", canary(10, 5)),
        config("CodeDeployDefault.LambdaCanary10Percent10Minutes", "Lambda", canary(10, 10)),
        config("CodeDeployDefault.LambdaCanary10Percent15Minutes", "Lambda", canary(10, 15)),
        config("CodeDeployDefault.LambdaCanary10Percent30Minutes", "Lambda", canary(10, 30)),
        config("CodeDeployDefault.LambdaLinear10PercentEvery1Minute", "Lambda", linear(10, 1)),
        config("CodeDeployDefault.LambdaLinear10PercentEvery2Minutes", "Lambda", linear(10, 2)),
        config("CodeDeployDefault.LambdaLinear10PercentEvery3Minutes", "Lambda", linear(10, 3)),
        config("CodeDeployDefault.LambdaLinear10PercentEvery10Minutes", "Lambda", linear(10, 10)),
        config("CodeDeployDefault.ECSAllAtOnce", "ECS", once),
        config("CodeDeployDefault.ECSCanary10Percent5Minutes", "ECS", canary(10, 5)),
        config("CodeDeployDefault.ECSCanary10Percent15Minutes", "ECS", canary(10, 15)),
        config("CodeDeployDefault.ECSLinear10PercentEvery1Minutes", "ECS", linear(10, 1)),
        config("CodeDeployDefault.ECSLinear10PercentEvery3Minutes", "ECS", linear(10, 3)),
    ):
        out[c["deploymentConfigName"]] = c
    return out


PREDEFINED = _predefined()
# The user guide's spelling of two ECS names (lowercase "percent").
PREDEFINED_ALIASES = {
    "CodeDeployDefault.ECSCanary10percent5Minutes": "CodeDeployDefault.ECSCanary10Percent5Minutes",
    "CodeDeployDefault.ECSCanary10percent15Minutes": "CodeDeployDefault.ECSCanary10Percent15Minutes",
}
DEFAULT_CONFIG = {"Server": "CodeDeployDefault.OneAtATime", "Lambda": "CodeDeployDefault.LambdaAllAtOnce",
                  "ECS": "CodeDeployDefault.ECSAllAtOnce"}


def schedule(config: dict) -> list[tuple[int, int]]:
    """The traffic steps of a config: [(percent on the target, minutes to wait after it)];
    the last step is 100 with 0 minutes."""
    routing = config.get("trafficRoutingConfig") or {"type": "AllAtOnce"}
    kind = routing.get("type")
    if kind == "TimeBasedCanary":
        c = routing["timeBasedCanary"]
        return [(c["canaryPercentage"], c["canaryInterval"]), (100, 0)]
    if kind == "TimeBasedLinear":
        c = routing["timeBasedLinear"]
        p, i = c["linearPercentage"], c["linearInterval"]
        steps = [(p * k, i) for k in range(1, 100) if p * k < 100]
        return steps + [(100, 0)]
    return [(100, 0)]


# -- the store -------------------------------------------------------------------


class Event:
    """One lifecycle event of a deployment's target."""

    def __init__(self, name: str, hook: str | None):
        self.name, self.hook = name, hook
        self.status = "Pending"
        self.start: float | None = None
        self.end: float | None = None
        self.diagnostics: dict | None = None
        self.execution_id: str | None = None
        self.hook_result: str | None = None
        self.hook_deadline: float | None = None

    def begin(self, now: float) -> None:
        self.status, self.start = "InProgress", now

    def finish(self, now: float, status: str = "Succeeded", code: str | None = None, message: str = "") -> None:
        self.status, self.end = status, now
        if self.start is None:
            self.start = now
        if code is not None:
            self.diagnostics = {"errorCode": code, "message": message}
        elif status == "Succeeded":
            self.diagnostics = {"errorCode": "Success", "message": "Succeeded"}

    def to_json(self) -> dict:
        out: dict[str, Any] = {"lifecycleEventName": self.name, "status": self.status}
        if self.start is not None:
            out["startTime"] = self.start
        if self.end is not None:
            out["endTime"] = self.end
        if self.diagnostics is not None:
            out["diagnostics"] = dict(self.diagnostics)
        return out


class Deployment:
    def __init__(self, deployment_id: str, app: dict, group: dict, config: dict, revision: dict,
                 appspec: dict, *, creator: str, description: str | None, rollback_config: dict | None,
                 alarm_config: dict | None, override_alarms: dict | None, now: float,
                 previous_revision: dict | None, external_id: str | None = None):
        self.id = deployment_id
        self.app_name = app["applicationName"]
        self.group_name = group["deploymentGroupName"]
        self.platform = app["computePlatform"]
        self.group = json.loads(json.dumps(group))  # the settings it runs with
        self.config = config
        self.revision = revision
        self.appspec = appspec
        self.creator = creator
        self.description = description
        self.rollback_config = rollback_config
        self.alarm_config = alarm_config
        self.override_alarms = override_alarms
        self.previous_revision = previous_revision
        self.external_id = external_id
        self.status = "Created"
        self.create_time = now
        self.start_time: float | None = None
        self.complete_time: float | None = None
        self.error: dict | None = None
        self.rollback_info: dict | None = None
        self.termination_wait_started = False
        self.additional_info: str | None = None
        self.status_messages: list[str] = []
        names = LAMBDA_EVENTS if self.platform == "Lambda" else ECS_EVENTS
        hooks = _hooks(appspec) if creator != "codeDeployRollback" else {}
        self.events = [Event(n, hooks.get(n)) for n in names]
        self.target_status = "Pending"
        self.target_updated = now
        self.flow: Iterator[Callable[[float], bool]] | None = None
        self.waiting: Callable[[float], bool] | None = None
        self.changed = False  # something was written that a rollback would undo
        self.continue_requested = False
        # Lambda
        self.function = self.alias = self.current_version = self.target_version = None
        self.weight = 0.0
        # ECS
        self.cluster = self.service = None
        self.blue_ts = self.green_ts = None
        self.blue_tg = self.green_tg = None
        self.prod_listener = self.test_listener = None
        self.account = self.region = ""

    def event(self, name: str) -> Event:
        return next(e for e in self.events if e.name == name)

    @property
    def target_id(self) -> str:
        if self.platform == "Lambda":
            res = _lambda_resource(self.appspec, strict=False)
            return f"{res.get('name', '?')}:{res.get('alias', '?')}"
        service = (self.group.get("ecsServices") or [{}])[0]
        return f"{service.get('clusterName', '?')}:{service.get('serviceName', '?')}"


class Region:
    def __init__(self):
        self.applications: dict[str, dict] = {}
        self.groups: dict[str, dict[str, dict]] = {}  # application -> group name -> group
        self.configs: dict[str, dict] = {}  # custom configs
        self.deployments: dict[str, Deployment] = {}
        self.tags: dict[str, list[dict]] = {}


def _lower_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k).lower(): _lower_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lower_keys(v) for v in value]
    return value


def _resources(appspec: dict) -> list[tuple[str, dict]]:
    out = []
    for item in appspec.get("resources") or []:
        if isinstance(item, dict):
            for logical, body in item.items():
                if isinstance(body, dict):
                    out.append((logical, body))
    return out


def _lambda_resource(appspec: dict, strict: bool = True) -> dict:
    res = [b for _, b in _resources(appspec) if str(b.get("type", "")).lower() == "aws::lambda::function"]
    if len(res) != 1:
        if strict:
            raise DeploymentFailure(
                "INVALID_LAMBDA_CONFIGURATION",
                f"The AppSpec must name exactly one resource of type AWS::Lambda::Function; it names {len(res)}.")
        return {}
    props = res[0].get("properties")
    if not isinstance(props, dict):
        if strict:
            raise DeploymentFailure("INVALID_LAMBDA_CONFIGURATION", "The Lambda resource in the AppSpec has no properties.")
        return {}
    return {k: str(v) for k, v in props.items() if v is not None}


def _hooks(appspec: dict) -> dict[str, str]:
    canonical = {n.lower(): n for n in set(LAMBDA_HOOKS) | set(ECS_HOOKS)}
    out = {}
    hooks = appspec.get("hooks") or []
    if isinstance(hooks, dict):
        hooks = [hooks]
    for item in hooks if isinstance(hooks, list) else []:
        if isinstance(item, dict):
            for k, v in item.items():
                if k in canonical and v:
                    out[canonical[k]] = str(v)
    return out


# -- request handling ---------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--codedeploy-minute", type=float, metavar="SECONDS", default=None,
        help=f"test-only time scale: real seconds per CodeDeploy minute (default ${MINUTE_ENV} or "
             f"{DEFAULT_MINUTE:g}, as on AWS)")


def wrap(app, args: argparse.Namespace | None = None) -> "CodeDeployFront":
    minute = getattr(args, "codedeploy_minute", None)
    if minute is None:
        minute = float(os.environ.get(MINUTE_ENV, DEFAULT_MINUTE))
    if minute <= 0:
        raise SystemExit("--codedeploy-minute must be greater than 0")
    install()
    front = CodeDeployFront(app, Engine(minute))
    front.engine.start()
    return front


class CodeDeployFront:
    """WSGI middleware: CodeDeploy's awsJson1_1 operations (see the module docstring)."""

    def __init__(self, app, engine: "Engine"):
        self.app = app
        self.engine = engine

    def __call__(self, environ: dict, start_response):
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path.rstrip("/") == "/moto-api/reset" and method == "POST":
            with self.engine.lock:
                self.engine.regions.clear()
                return self.app(environ, start_response)
        if path.rstrip("/") == "/_codedeploy/hook-executions" and method == "GET":
            return _json(start_response, 200, {"hookExecutions": self.engine.hook_executions()})
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.startswith(TARGET_PREFIX) or method != "POST":
            return self.app(environ, start_response)
        operation = target[len(TARGET_PREFIX):]
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(length) if length else b""
            try:
                params = json.loads(raw or b"{}")
            except ValueError as exc:
                raise CodeDeployError("SerializationException", f"The request body is not JSON: {exc}") from None
            if not isinstance(params, dict):
                raise CodeDeployError("SerializationException", "The request body is not a JSON object.")
            handler = getattr(self.engine, "op_" + _snake(operation), None)
            if handler is None:
                raise CodeDeployError("UnknownOperationException",
                                      f"The CodeDeploy operation {operation} is not modelled by the emulator.")
            account, region = emulator_route53.account_and_region(environ)
            with self.engine.lock:
                self.engine.advance()
                result = handler(self.engine.region(account, region), params, account, region)
            return _json(start_response, 200, result or {})
        except CodeDeployError as exc:
            return _json(start_response, 400, {"__type": exc.code, "message": exc.message},
                         [("x-amzn-ErrorType", exc.code)])
        except Exception as exc:  # a bug here must reach the client in the protocol's shape
            traceback.print_exc()
            return _json(start_response, 500, {"__type": "InternalFailure", "message": f"emulator: {exc!r}"},
                         [("x-amzn-ErrorType", "InternalFailure")])


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _json(start_response, status: int, body: dict, extra=()):
    data = json.dumps(body).encode()
    reason = {200: "OK", 400: "Bad Request", 500: "Internal Server Error"}.get(status, "Status")
    start_response(f"{status} {reason}", [("Content-Type", "application/x-amz-json-1.1"),
                                          ("Content-Length", str(len(data))),
                                          ("x-amzn-RequestId", str(uuid.uuid4())), *extra])
    return [data]


# -- validation helpers -------------------------------------------------------------------


def _name(params: dict, field: str, required_code: str, invalid_code: str, what: str) -> str:
    value = params.get(field)
    if value is None or value == "":
        raise CodeDeployError(required_code, f"The {what} name is required.")
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise CodeDeployError(invalid_code, f"The {what} name {value!r} is not valid: 1 to 100 characters "
                                            "of letters, digits and + = , . @ _ -.")
    return value


def _check_alarms(config: Any) -> dict | None:
    if config is None:
        return None
    if not isinstance(config, dict):
        raise CodeDeployError("InvalidAlarmConfigException", "The alarm configuration must be an object.")
    alarms = config.get("alarms") or []
    if not isinstance(alarms, list):
        raise CodeDeployError("InvalidAlarmConfigException", "The alarm list must be a list.")
    if len(alarms) > 10:
        raise CodeDeployError("AlarmsLimitExceededException",
                              f"{len(alarms)} alarms were given; a deployment group takes at most 10.")
    names = []
    for alarm in alarms:
        name = alarm.get("name") if isinstance(alarm, dict) else None
        if not isinstance(name, str) or not 1 <= len(name) <= 255:
            raise CodeDeployError("InvalidAlarmConfigException",
                                  "Each alarm needs a name of 1 to 255 characters.")
        if name in names:
            raise CodeDeployError("InvalidAlarmConfigException", f"The alarm {name} is named twice.")
        names.append(name)
    enabled = bool(config.get("enabled", False))
    if enabled and not names:
        raise CodeDeployError("InvalidAlarmConfigException",
                              "The alarm configuration is enabled but names no alarm.")
    return {"enabled": enabled, "ignorePollAlarmFailure": bool(config.get("ignorePollAlarmFailure", False)),
            "alarms": [{"name": n} for n in names]}


def _check_rollback(config: Any) -> dict | None:
    if config is None:
        return None
    if not isinstance(config, dict):
        raise CodeDeployError("InvalidAutoRollbackConfigException", "The rollback configuration must be an object.")
    events = config.get("events") or []
    if not isinstance(events, list) or any(e not in ROLLBACK_EVENTS for e in events):
        raise CodeDeployError("InvalidAutoRollbackConfigException",
                              f"Rollback events must be among {', '.join(ROLLBACK_EVENTS)}; got {events!r}.")
    enabled = bool(config.get("enabled", False))
    if enabled and not events:
        raise CodeDeployError("InvalidAutoRollbackConfigException",
                              "Automatic rollback is enabled but no triggering event is listed.")
    return {"enabled": enabled, "events": list(dict.fromkeys(events))}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _page(items: list, token: Any) -> tuple[list, str | None]:
    start = 0
    if token:
        try:
            start = int(str(token).removeprefix("cd-"))
        except ValueError:
            raise CodeDeployError("InvalidNextTokenException", "The next token is not valid.") from None
        if not 0 <= start <= len(items):
            raise CodeDeployError("InvalidNextTokenException", "The next token is not valid.")
    end = start + PAGE
    return items[start:end], (f"cd-{end}" if end < len(items) else None)


# -- the engine ---------------------------------------------------------------------------


class Engine:
    def __init__(self, minute: float):
        self.minute = minute
        self.tick = emulator_engine.tick_for(minute)
        self.lock = threading.RLock()
        self.regions: dict[tuple[str, str], Region] = {}
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = emulator_engine.run_engine("codedeploy-engine", self.tick, self.lock, self.advance)

    def region(self, account: str, region: str) -> Region:
        key = (account, region)
        if key not in self.regions:
            self.regions[key] = Region()
        return self.regions[key]

    @staticmethod
    def now() -> float:
        return time.time()

    # -- deployment progression ------------------------------------------------------

    def advance(self) -> None:
        for (account, region_name), region in list(self.regions.items()):
            for d in list(region.deployments.values()):
                if d.status in ("Created", "InProgress"):
                    self._advance(region, d)

    def _advance(self, region: Region, d: Deployment) -> None:
        now = self.now()
        if d.creator != "codeDeployRollback" and self._alarm_stop(region, d):
            return
        if d.flow is None:
            d.flow = self._flow(region, d)
        try:
            while True:
                if d.waiting is not None:
                    if not d.waiting(self.now()):
                        return
                    d.waiting = None
                d.waiting = next(d.flow)
        except StopIteration:
            d.waiting = None
        except DeploymentFailure as failure:
            self._fail(region, d, failure.code, failure.message)

    def _flow(self, region: Region, d: Deployment) -> Iterator[Callable[[float], bool]]:
        if d.creator == "codeDeployRollback":
            return self._rollback_flow(region, d)
        if d.platform == "Lambda":
            return self._lambda_flow(region, d)
        return self._ecs_flow(region, d)

    def _start(self, region: Region, d: Deployment) -> None:
        now = self.now()
        if d.app_name not in region.applications:
            raise DeploymentFailure("APPLICATION_MISSING", f"The application {d.app_name} was deleted before "
                                                           "the deployment started.")
        if d.group_name not in region.groups.get(d.app_name, {}):
            raise DeploymentFailure("DEPLOYMENT_GROUP_MISSING", f"The deployment group {d.group_name} was deleted "
                                                                "before the deployment started.")
        d.status, d.start_time = "InProgress", now
        d.target_status, d.target_updated = "InProgress", now
        group = region.groups.get(d.app_name, {}).get(d.group_name)
        if group is not None:
            group["lastAttemptedDeployment"] = {"deploymentId": d.id, "status": d.status,
                                                "createTime": d.create_time}

    def _wait_minutes(self, minutes: float) -> Callable[[float], bool]:
        until = self.now() + minutes * self.minute
        return lambda now: now >= until

    def _hook(self, d: Deployment, name: str) -> Iterator[Callable[[float], bool]]:
        ev = d.event(name)
        ev.begin(self.now())
        d.target_updated = self.now()
        if ev.hook is None:
            ev.finish(self.now())
            return
        ev.execution_id = secrets.token_urlsafe(48)
        ev.hook_deadline = self.now() + HOOK_TIMEOUT_MINUTES * self.minute
        yield lambda now: ev.hook_result is not None or now >= ev.hook_deadline
        if ev.hook_result == "Succeeded":
            ev.finish(self.now())
            return
        if ev.hook_result == "Failed":
            ev.finish(self.now(), "Failed", "ScriptFailed", f"The hook function {ev.hook} reported Failed.")
            raise DeploymentFailure("HOOK_EXECUTION_FAILURE",
                                    f"The {name} hook function {ev.hook} reported Failed.")
        ev.finish(self.now(), "Failed", "ScriptTimedOut",
                  f"The hook function {ev.hook} did not report within one hour.")
        raise DeploymentFailure("TIMEOUT", f"The {name} hook function {ev.hook} did not report a status "
                                           f"within {HOOK_TIMEOUT_MINUTES} minutes.")

    # Lambda ---------------------------------------------------------------------------

    def _lambda_backend(self, d: Deployment):
        from moto.awslambda.models import lambda_backends
        return lambda_backends[d.account][d.region]

    def _lambda_flow(self, region: Region, d: Deployment) -> Iterator[Callable[[float], bool]]:
        self._start(region, d)
        props = _lambda_resource(d.appspec)
        missing = [p for p in ("name", "alias", "currentversion", "targetversion") if not props.get(p)]
        if missing:
            raise DeploymentFailure("INVALID_LAMBDA_CONFIGURATION",
                                    f"The AppSpec's Lambda resource lacks {', '.join(missing)}.")
        d.function, d.alias = props["name"], props["alias"]
        d.current_version, d.target_version = props["currentversion"], props["targetversion"]
        backend = self._lambda_backend(d)
        try:
            backend.get_function(d.function)
        except Exception:
            raise DeploymentFailure("INVALID_LAMBDA_FUNCTION", f"The Lambda function {d.function} does not exist.") from None
        try:
            alias = backend.get_alias(d.alias, d.function)
        except Exception:
            raise DeploymentFailure("INVALID_LAMBDA_FUNCTION",
                                    f"The Lambda function {d.function} has no alias {d.alias}.") from None
        for version in (d.current_version, d.target_version):
            try:
                backend.get_function(d.function, version)
            except Exception:
                raise DeploymentFailure("INVALID_LAMBDA_FUNCTION",
                                        f"The Lambda function {d.function} has no version {version}.") from None
        if d.current_version == d.target_version:
            raise DeploymentFailure("INVALID_LAMBDA_CONFIGURATION",
                                    f"TargetVersion and CurrentVersion are both {d.target_version}.")
        if alias.function_version != d.current_version:
            raise DeploymentFailure(
                "INVALID_LAMBDA_CONFIGURATION",
                f"The alias {d.alias} points to version {alias.function_version}, not to the AppSpec's "
                f"CurrentVersion {d.current_version}.")
        yield from self._hook(d, "BeforeAllowTraffic")
        ev = d.event("AllowTraffic")
        ev.begin(self.now())
        for percent, wait in schedule(d.config):
            self._set_lambda_weight(d, percent)
            if wait:
                yield self._wait_minutes(wait)
        ev.finish(self.now())
        yield from self._hook(d, "AfterAllowTraffic")
        self._succeed(region, d)

    def _set_lambda_weight(self, d: Deployment, percent: float) -> None:
        backend = self._lambda_backend(d)
        try:
            if percent >= 100:
                backend.update_alias(d.alias, d.function, d.target_version, None, {})
            else:
                backend.update_alias(d.alias, d.function, d.current_version, None,
                                     {"AdditionalVersionWeights": {d.target_version: round(percent / 100.0, 4)}})
        except Exception as exc:
            raise DeploymentFailure("INVALID_LAMBDA_FUNCTION",
                                    f"Updating the alias {d.function}:{d.alias} failed: {exc}") from None
        d.changed = True
        d.weight = float(percent)
        d.target_updated = self.now()

    # ECS ----------------------------------------------------------------------------

    def _ecs(self, d: Deployment):
        from moto.ecs.models import ecs_backends
        return ecs_backends[d.account][d.region]

    def _elb(self, d: Deployment):
        from moto.elbv2.models import elbv2_backends
        return elbv2_backends[d.account][d.region]

    def _ecs_flow(self, region: Region, d: Deployment) -> Iterator[Callable[[float], bool]]:
        self._start(region, d)
        res = [b for _, b in _resources(d.appspec) if str(b.get("type", "")).lower() == "aws::ecs::service"]
        if len(res) != 1 or not isinstance(res[0].get("properties"), dict):
            raise DeploymentFailure("INVALID_REVISION",
                                    "The AppSpec must name exactly one resource of type AWS::ECS::Service with properties.")
        props = res[0]["properties"]
        lb = props.get("loadbalancerinfo") or {}
        task_definition = props.get("taskdefinition")
        container, port = lb.get("containername"), lb.get("containerport")
        if not task_definition or not container or port is None:
            raise DeploymentFailure("INVALID_REVISION",
                                    "The AppSpec's ECS service needs TaskDefinition and LoadBalancerInfo "
                                    "{ContainerName, ContainerPort}.")
        ecs, elb = self._ecs(d), self._elb(d)
        try:
            taskdef = ecs.describe_task_definition(str(task_definition))
        except Exception:
            raise DeploymentFailure("INVALID_REVISION", f"The task definition {task_definition} does not exist.") from None
        if not any(c.get("name") == container for c in taskdef.container_definitions):
            raise DeploymentFailure("INVALID_REVISION",
                                    f"The task definition {task_definition} has no container {container}.")
        service_ref = d.group["ecsServices"][0]
        d.cluster, d.service = service_ref["clusterName"], service_ref["serviceName"]
        service = ecs.services.get(f"{d.cluster.split('/')[-1]}:{d.service.split('/')[-1]}")
        if service is None or service.status != "ACTIVE":
            raise DeploymentFailure("INVALID_ECS_SERVICE", f"The ECS service {d.cluster}:{d.service} does not exist.")
        pair = d.group["loadBalancerInfo"]["targetGroupPairInfoList"][0]
        tgs = []
        for tg in pair["targetGroups"]:
            found = [t for t in elb.target_groups.values() if t.name == tg["name"]]
            if not found:
                raise DeploymentFailure("ELASTIC_LOAD_BALANCING_INVALID", f"The target group {tg['name']} does not exist.")
            tgs.append(found[0].arn)
        d.prod_listener = pair["prodTrafficRoute"]["listenerArns"][0]
        test = (pair.get("testTrafficRoute") or {}).get("listenerArns") or []
        d.test_listener = test[0] if test else None
        for arn in filter(None, (d.prod_listener, d.test_listener)):
            if not self._listener(d, arn):
                raise DeploymentFailure("ELASTIC_LOAD_BALANCING_INVALID", f"The listener {arn} does not exist.")
        primary = next((ts for ts in service.task_sets if ts.status == "PRIMARY"), None)
        d.blue_ts = primary.task_set_arn if primary else None
        blue = None
        if primary is not None:
            blue = next((lb.get("targetGroupArn") for lb in primary.load_balancers
                         if lb.get("targetGroupArn") in tgs), None)
        if blue is None:
            weights = _forward_weights(self._listener(d, d.prod_listener))
            blue = max(tgs, key=lambda arn: weights.get(arn, 0))
        d.blue_tg = blue
        d.green_tg = next(arn for arn in tgs if arn != blue)

        yield from self._hook(d, "BeforeInstall")
        ev = d.event("Install")
        ev.begin(self.now())
        kwargs: dict[str, Any] = {}
        if props.get("networkconfiguration"):
            kwargs["network_configuration"] = _ecs_network(props["networkconfiguration"])
        elif getattr(primary, "network_configuration", None):
            kwargs["network_configuration"] = primary.network_configuration
        try:
            green = ecs.create_task_set(
                service.arn, d.cluster, taskdef.arn,
                external_id=d.id,
                load_balancers=[{"targetGroupArn": d.green_tg, "containerName": container,
                                 "containerPort": int(port)}],
                launch_type=service.launch_type or "EC2",
                platform_version=props.get("platformversion") or None,
                **kwargs)
        except Exception as exc:
            raise DeploymentFailure("ECS_UPDATE_ERROR", f"Creating the replacement task set failed: {exc}") from None
        green.scale = {"value": 100.0, "unit": "PERCENT"}
        d.green_ts = green.task_set_arn
        d.changed = True
        d.target_updated = self.now()
        ev.finish(self.now())
        yield from self._hook(d, "AfterInstall")
        ev = d.event("AllowTestTraffic")
        ev.begin(self.now())
        if d.test_listener:
            self._set_listener(d, d.test_listener, 100)
        ev.finish(self.now())
        yield from self._hook(d, "AfterAllowTestTraffic")
        yield from self._hook(d, "BeforeAllowTraffic")
        ev = d.event("AllowTraffic")
        ev.begin(self.now())
        for percent, wait in schedule(d.config):
            self._set_listener(d, d.prod_listener, percent)
            d.weight = float(percent)
            d.target_updated = self.now()
            if wait:
                yield self._wait_minutes(wait)
        try:
            ecs.update_service_primary_task_set(d.cluster, d.service, d.green_ts)
        except Exception as exc:
            raise DeploymentFailure("ECS_UPDATE_ERROR", f"Making the replacement task set primary failed: {exc}") from None
        ev.finish(self.now())
        yield from self._hook(d, "AfterAllowTraffic")
        termination = (d.group.get("blueGreenDeploymentConfiguration") or {}).get(
            "terminateBlueInstancesOnDeploymentSuccess") or {}
        if termination.get("action") == "KEEP_ALIVE":
            d.additional_info = "The original task set was kept (KEEP_ALIVE)."
        else:
            d.termination_wait_started = True
            wait = termination.get("terminationWaitTimeInMinutes") or 0
            until = self.now() + wait * self.minute
            yield lambda now: now >= until or d.continue_requested
            if d.blue_ts:
                try:
                    ecs.delete_task_set(d.cluster, d.service, d.blue_ts)
                except Exception:
                    pass
        self._succeed(region, d)

    def _listener(self, d: Deployment, arn: str):
        try:
            found = self._elb(d).describe_listeners(None, [arn])
        except Exception:
            return None
        return found[0] if found else None

    def _set_listener(self, d: Deployment, arn: str, green_percent: float) -> None:
        listener = self._listener(d, arn)
        if listener is None:
            raise DeploymentFailure("ELASTIC_LOAD_BALANCING_INVALID", f"The listener {arn} does not exist.")
        green = int(round(green_percent))
        action = {"Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": d.blue_tg, "Weight": 100 - green},
            {"TargetGroupArn": d.green_tg, "Weight": green}]}}
        old = listener.default_actions[0].data if listener.default_actions else {}
        sticky = (old.get("ForwardConfig") or {}).get("TargetGroupStickinessConfig")
        if sticky:
            action["ForwardConfig"]["TargetGroupStickinessConfig"] = dict(sticky)
        self._elb(d).modify_listener(arn, actions=[action])

    # rollback ---------------------------------------------------------------------------

    def _rollback_flow(self, region: Region, d: Deployment) -> Iterator[Callable[[float], bool]]:
        self._start(region, d)
        yield lambda now: True  # one tick later
        source = region.deployments[d.rollback_info["rollbackTriggeringDeploymentId"]]
        if d.platform == "Lambda":
            for name in LAMBDA_EVENTS:
                d.event(name).begin(self.now())
            backend = self._lambda_backend(source)
            try:
                backend.update_alias(source.alias, source.function, source.current_version, None, {})
            except Exception as exc:
                raise DeploymentFailure("INVALID_LAMBDA_FUNCTION", f"Restoring the alias failed: {exc}") from None
            d.weight = 0.0
        else:
            for name in ECS_EVENTS:
                d.event(name).begin(self.now())
            for arn in filter(None, (source.prod_listener, source.test_listener)):
                if self._listener(source, arn):
                    self._set_listener(source, arn, 0)
            ecs = self._ecs(source)
            try:
                if source.blue_ts:
                    ecs.update_service_primary_task_set(source.cluster, source.service, source.blue_ts)
                if source.green_ts:
                    ecs.delete_task_set(source.cluster, source.service, source.green_ts)
            except Exception as exc:
                raise DeploymentFailure("ECS_UPDATE_ERROR", f"Restoring the original task set failed: {exc}") from None
            source.weight = d.weight = 0.0
        for ev in d.events:
            ev.finish(self.now())
        self._succeed(region, d)
        source.rollback_info["rollbackMessage"] = (
            f"Rolled back by deployment {d.id}, which succeeded: traffic is back on the original "
            f"{'version' if d.platform == 'Lambda' else 'task set'}.")

    # endings ------------------------------------------------------------------------------

    def _succeed(self, region: Region, d: Deployment) -> None:
        now = self.now()
        d.status, d.complete_time = "Succeeded", now
        d.target_status, d.target_updated = "Succeeded", now
        group = region.groups.get(d.app_name, {}).get(d.group_name)
        if group is not None:
            group["lastSuccessfulDeployment"] = {"deploymentId": d.id, "status": "Succeeded",
                                                 "endTime": now, "createTime": d.create_time}
            group["lastAttemptedDeployment"] = dict(group["lastSuccessfulDeployment"])
            group["_lastSuccessfulRevision"] = d.revision

    def _end(self, region: Region, d: Deployment, status: str, code: str, message: str) -> None:
        now = self.now()
        d.status, d.complete_time = status, now
        d.error = {"code": code, "message": message}
        d.target_status, d.target_updated = "Failed", now
        d.flow = d.waiting = None
        for ev in d.events:
            if ev.status == "InProgress":
                ev.finish(now, "Failed", "UnknownError", message)
            elif ev.status == "Pending":
                ev.status = "Skipped"
        group = region.groups.get(d.app_name, {}).get(d.group_name)
        if group is not None:
            group["lastAttemptedDeployment"] = {"deploymentId": d.id, "status": status, "endTime": now,
                                                "createTime": d.create_time}

    def _fail(self, region: Region, d: Deployment, code: str, message: str) -> None:
        self._end(region, d, "Failed", code, message)
        if d.creator != "codeDeployRollback" and self._rollback_on(d, "DEPLOYMENT_FAILURE"):
            self._roll_back(region, d)

    def stop(self, region: Region, d: Deployment, code: str, message: str, rollback: bool) -> None:
        self._end(region, d, "Stopped", code, message)
        if rollback:
            self._roll_back(region, d)

    @staticmethod
    def _rollback_on(d: Deployment, event: str) -> bool:
        config = d.rollback_config or {}
        return bool(config.get("enabled")) and event in (config.get("events") or [])

    def _roll_back(self, region: Region, d: Deployment) -> None:
        if not d.changed:
            d.rollback_info = {"rollbackMessage": "No rollback was needed: the deployment had not changed "
                                                  "anything yet."}
            return
        rollback_id = self._new_id(region)
        if d.platform == "Lambda":
            content = {"version": 0.0, "Resources": [{d.function: {"Type": "AWS::Lambda::Function", "Properties": {
                "Name": d.function, "Alias": d.alias, "CurrentVersion": d.target_version,
                "TargetVersion": d.current_version}}}]}
        else:
            original = None
            try:
                for ts in self._ecs(d).describe_task_sets(d.cluster, d.service, [d.blue_ts] if d.blue_ts else []):
                    original = ts
            except Exception:
                pass
            lbs = (original.load_balancers if original else None) or [{}]
            content = {"version": 0.0, "Resources": [{"TargetService": {"Type": "AWS::ECS::Service", "Properties": {
                "TaskDefinition": original.task_definition if original else "",
                "LoadBalancerInfo": {"ContainerName": lbs[0].get("containerName"),
                                     "ContainerPort": lbs[0].get("containerPort")}}}}]}
        text = json.dumps(content)
        revision = {"revisionType": "AppSpecContent",
                    "appSpecContent": {"content": text, "sha256": hashlib.sha256(text.encode()).hexdigest()}}
        app = region.applications.get(d.app_name) or {"applicationName": d.app_name, "computePlatform": d.platform}
        rollback = Deployment(rollback_id, app, d.group, d.config, revision, _lower_keys(content),
                              creator="codeDeployRollback", description=f"Rollback of {d.id}",
                              rollback_config=None, alarm_config=None, override_alarms=None, now=self.now(),
                              previous_revision=d.revision)
        rollback.account, rollback.region = d.account, d.region
        rollback.function, rollback.alias = d.function, d.alias
        rollback.current_version, rollback.target_version = d.target_version, d.current_version
        rollback.weight = d.weight
        rollback.rollback_info = {"rollbackTriggeringDeploymentId": d.id,
                                  "rollbackMessage": f"Rollback of deployment {d.id} ({d.status.lower()}: "
                                                     f"{d.error['code'] if d.error else ''})."}
        region.deployments[rollback_id] = rollback
        d.rollback_info = {"rollbackDeploymentId": rollback_id,
                           "rollbackMessage": f"Rollback deployment {rollback_id} is in progress."}

    def _alarm_stop(self, region: Region, d: Deployment) -> bool:
        config = d.override_alarms if d.override_alarms is not None else d.alarm_config
        if not config or not config.get("enabled") or not config.get("alarms"):
            return False
        from moto.cloudwatch.models import cloudwatch_backends
        alarms = cloudwatch_backends[d.account][d.region].alarms
        active, unreadable = [], []
        for alarm in config["alarms"]:
            found = alarms.get(alarm["name"])
            if found is None:
                unreadable.append(alarm["name"])
            elif found.state_value == "ALARM":
                active.append(alarm["name"])
        if active:
            message = f"One or more alarms activated, so the deployment was stopped. Activated alarms: {', '.join(active)}"
        elif unreadable and not config.get("ignorePollAlarmFailure"):
            message = (f"The state of the alarm(s) {', '.join(unreadable)} could not be read from CloudWatch, "
                       "so the deployment was stopped (ignorePollAlarmFailure is false).")
        else:
            return False
        self.stop(region, d, "ALARM_ACTIVE", message, self._rollback_on(d, "DEPLOYMENT_STOP_ON_ALARM"))
        return True

    @staticmethod
    def _new_id(region: Region) -> str:
        alphabet = string.ascii_uppercase + string.digits
        while True:
            candidate = "d-" + "".join(secrets.choice(alphabet) for _ in range(9))
            if candidate not in region.deployments:
                return candidate

    def hook_executions(self) -> list[dict]:
        out = []
        with self.lock:
            self.advance()
            for region in self.regions.values():
                for d in region.deployments.values():
                    for ev in d.events:
                        if ev.execution_id:
                            out.append({"deploymentId": d.id, "lifecycleEventHookExecutionId": ev.execution_id,
                                        "lifecycleEventName": ev.name, "functionName": ev.hook,
                                        "status": ev.hook_result or ev.status})
        return out

    # -- operations: applications ---------------------------------------------------------

    def _app(self, region: Region, params: dict) -> dict:
        name = _name(params, "applicationName", "ApplicationNameRequiredException",
                     "InvalidApplicationNameException", "application")
        app = region.applications.get(name)
        if app is None:
            raise CodeDeployError("ApplicationDoesNotExistException", f"No application named {name} exists.")
        return app

    def op_create_application(self, region: Region, params: dict, account: str, region_name: str) -> dict:
        name = _name(params, "applicationName", "ApplicationNameRequiredException",
                     "InvalidApplicationNameException", "application")
        platform = params.get("computePlatform") or "Server"
        if platform not in PLATFORMS:
            raise CodeDeployError("InvalidComputePlatformException",
                                  f"The compute platform {platform!r} is not Server, Lambda or ECS.")
        if name in region.applications:
            raise CodeDeployError("ApplicationAlreadyExistsException", f"An application named {name} already exists.")
        app = {"applicationId": str(uuid.uuid4()), "applicationName": name, "createTime": self.now(),
               "linkedToGitHub": False, "computePlatform": platform}
        region.applications[name] = app
        region.groups[name] = {}
        if params.get("tags"):
            region.tags[_arn(account, region_name, f"application:{name}")] = _tags(params["tags"])
        return {"applicationId": app["applicationId"]}

    def op_get_application(self, region, params, account, region_name):
        return {"application": dict(self._app(region, params))}

    def op_batch_get_applications(self, region, params, account, region_name):
        names = params.get("applicationNames")
        if not names:
            raise CodeDeployError("ApplicationNameRequiredException", "applicationNames is required.")
        if len(names) > 100:
            raise CodeDeployError("BatchLimitExceededException", "At most 100 application names are accepted.")
        return {"applicationsInfo": [dict(self._app(region, {"applicationName": n})) for n in names]}

    def op_list_applications(self, region, params, account, region_name):
        page, token = _page(sorted(region.applications), params.get("nextToken"))
        return {"applications": page, **({"nextToken": token} if token else {})}

    def op_update_application(self, region, params, account, region_name):
        app = self._app(region, params)
        new = params.get("newApplicationName")
        if new and new != app["applicationName"]:
            new = _name(params, "newApplicationName", "ApplicationNameRequiredException",
                        "InvalidApplicationNameException", "application")
            if new in region.applications:
                raise CodeDeployError("ApplicationAlreadyExistsException", f"An application named {new} already exists.")
            old = app["applicationName"]
            region.applications[new] = region.applications.pop(old)
            app["applicationName"] = new
            region.groups[new] = region.groups.pop(old, {})
            for group in region.groups[new].values():
                group["applicationName"] = new
            for d in region.deployments.values():
                if d.app_name == old:
                    d.app_name = new
        return {}

    def op_delete_application(self, region, params, account, region_name):
        name = _name(params, "applicationName", "ApplicationNameRequiredException",
                     "InvalidApplicationNameException", "application")
        region.applications.pop(name, None)
        region.groups.pop(name, None)
        return {}

    # -- operations: deployment configs -----------------------------------------------------

    def _config(self, region: Region, name: str) -> dict | None:
        name = PREDEFINED_ALIASES.get(name, name)
        return PREDEFINED.get(name) or region.configs.get(name)

    def _config_for(self, region: Region, name, platform: str) -> dict:
        """The config `name` for a group or deployment of `platform`, or the error AWS gives."""
        if not NAME.fullmatch(str(name)):
            raise CodeDeployError("InvalidDeploymentConfigNameException", f"{name!r} is not a valid name.")
        config = self._config(region, name)
        if config is None:
            raise CodeDeployError("DeploymentConfigDoesNotExistException",
                                  f"No deployment configuration named {name} exists.")
        if config["computePlatform"] != platform:
            raise CodeDeployError("InvalidDeploymentConfigNameException",
                                  f"{name} is a {config['computePlatform']} configuration; the application's "
                                  f"compute platform is {platform}.")
        return config

    def op_create_deployment_config(self, region, params, account, region_name):
        name = _name(params, "deploymentConfigName", "DeploymentConfigNameRequiredException",
                     "InvalidDeploymentConfigNameException", "deployment configuration")
        if self._config(region, name) is not None:
            raise CodeDeployError("DeploymentConfigAlreadyExistsException",
                                  f"A deployment configuration named {name} already exists.")
        platform = params.get("computePlatform") or "Server"
        if platform not in PLATFORMS:
            raise CodeDeployError("InvalidComputePlatformException",
                                  f"The compute platform {platform!r} is not Server, Lambda or ECS.")
        healthy = params.get("minimumHealthyHosts")
        routing = params.get("trafficRoutingConfig")
        zonal = params.get("zonalConfig")
        info: dict[str, Any] = {"deploymentConfigId": str(uuid.uuid4()), "deploymentConfigName": name,
                                "createTime": self.now(), "computePlatform": platform}
        if platform == "Server":
            if not isinstance(healthy, dict):
                raise CodeDeployError("InvalidMinimumHealthyHostValueException",
                                      "A Server deployment configuration needs minimumHealthyHosts.")
            kind, value = healthy.get("type"), _int(healthy.get("value"))
            if kind not in ("HOST_COUNT", "FLEET_PERCENT") or value is None or value < 0 or (
                    kind == "FLEET_PERCENT" and value > 99):
                raise CodeDeployError("InvalidMinimumHealthyHostValueException",
                                      "minimumHealthyHosts needs type HOST_COUNT (value >= 0) or FLEET_PERCENT "
                                      "(value 0 to 99).")
            info["minimumHealthyHosts"] = {"type": kind, "value": value}
            if routing is not None and (not isinstance(routing, dict) or routing.get("type") != "AllAtOnce"):
                raise CodeDeployError("InvalidTrafficRoutingConfigurationException",
                                      "Time-based traffic routing applies to Lambda and ECS configurations only.")
            info["trafficRoutingConfig"] = {"type": "AllAtOnce"}
            if zonal is not None:
                info["zonalConfig"] = zonal
        else:
            if healthy is not None:
                raise CodeDeployError("InvalidMinimumHealthyHostValueException",
                                      f"minimumHealthyHosts does not apply to {platform} configurations.")
            if zonal is not None:
                raise CodeDeployError("InvalidZonalDeploymentConfigurationException",
                                      "zonalConfig applies to Server configurations only.")
            info["trafficRoutingConfig"] = _check_routing(routing)
        region.configs[name] = info
        return {"deploymentConfigId": info["deploymentConfigId"]}

    def op_get_deployment_config(self, region, params, account, region_name):
        name = _name(params, "deploymentConfigName", "DeploymentConfigNameRequiredException",
                     "InvalidDeploymentConfigNameException", "deployment configuration")
        config = self._config(region, name)
        if config is None:
            raise CodeDeployError("DeploymentConfigDoesNotExistException",
                                  f"No deployment configuration named {name} exists.")
        return {"deploymentConfigInfo": json.loads(json.dumps(config))}

    def op_list_deployment_configs(self, region, params, account, region_name):
        names = sorted(PREDEFINED) + sorted(region.configs)
        page, token = _page(names, params.get("nextToken"))
        return {"deploymentConfigsList": page, **({"nextToken": token} if token else {})}

    def op_delete_deployment_config(self, region, params, account, region_name):
        name = _name(params, "deploymentConfigName", "DeploymentConfigNameRequiredException",
                     "InvalidDeploymentConfigNameException", "deployment configuration")
        if PREDEFINED_ALIASES.get(name, name) in PREDEFINED:
            raise CodeDeployError("InvalidOperationException", f"{name} is predefined and cannot be deleted.")
        if name not in region.configs:
            return {}
        for app, groups in region.groups.items():
            for group in groups.values():
                if group.get("deploymentConfigName") == name:
                    raise CodeDeployError("DeploymentConfigInUseException",
                                          f"The deployment group {app}/{group['deploymentGroupName']} uses {name}.")
        for d in region.deployments.values():
            if d.status in ACTIVE and d.config.get("deploymentConfigName") == name:
                raise CodeDeployError("DeploymentConfigInUseException",
                                      f"The deployment {d.id}, not yet complete, uses {name}.")
        del region.configs[name]
        return {}

    # -- operations: deployment groups ---------------------------------------------------------

    def _group(self, region: Region, params: dict, field: str = "deploymentGroupName") -> tuple[dict, dict]:
        app = self._app(region, params)
        name = _name(params, field, "DeploymentGroupNameRequiredException",
                     "InvalidDeploymentGroupNameException", "deployment group")
        group = region.groups.get(app["applicationName"], {}).get(name)
        if group is None:
            raise CodeDeployError("DeploymentGroupDoesNotExistException",
                                  f"No deployment group named {name} exists in application {app['applicationName']}.")
        return app, group

    def _group_settings(self, region: Region, app: dict, params: dict, group: dict, account: str,
                        region_name: str, *, creating: bool) -> None:
        """Validates the settings in `params` and writes them into `group`."""
        platform = app["computePlatform"]
        if creating or "serviceRoleArn" in params:
            role = params.get("serviceRoleArn")
            if not role:
                raise CodeDeployError("RoleRequiredException", "serviceRoleArn is required.")
            if not isinstance(role, str) or not ROLE_ARN.fullmatch(role):
                raise CodeDeployError("InvalidRoleException", f"{role!r} is not an IAM role ARN.")
            group["serviceRoleArn"] = role
        if creating or params.get("deploymentConfigName"):
            name = params.get("deploymentConfigName") or DEFAULT_CONFIG[platform]
            config = self._config_for(region, name, platform)
            group["deploymentConfigName"] = config["deploymentConfigName"]
        if creating or "alarmConfiguration" in params:
            group["alarmConfiguration"] = _check_alarms(params.get("alarmConfiguration")) or {
                "enabled": False, "ignorePollAlarmFailure": False, "alarms": []}
        if creating or "autoRollbackConfiguration" in params:
            group["autoRollbackConfiguration"] = _check_rollback(params.get("autoRollbackConfiguration")) or {
                "enabled": False, "events": []}
        for field, default in (("ec2TagFilters", []), ("onPremisesInstanceTagFilters", []),
                               ("autoScalingGroups", []), ("triggerConfigurations", []),
                               ("outdatedInstancesStrategy", "UPDATE"), ("ec2TagSet", None),
                               ("onPremisesTagSet", None), ("terminationHookEnabled", False),
                               ("blueGreenDeploymentConfiguration", None), ("loadBalancerInfo", None),
                               ("deploymentStyle", None), ("ecsServices", None)):
            if field in params and params[field] is not None:
                group[field] = json.loads(json.dumps(params[field]))
            elif creating and default is not None:
                group[field] = default
        if platform == "Lambda":
            group["deploymentStyle"] = {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"}
        elif platform == "ECS":
            self._check_ecs_group(region, app, group, account, region_name)
        elif creating and "deploymentStyle" not in group:
            group["deploymentStyle"] = {"deploymentType": "IN_PLACE", "deploymentOption": "WITHOUT_TRAFFIC_CONTROL"}

    def _check_ecs_group(self, region: Region, app: dict, group: dict, account: str, region_name: str) -> None:
        style = group.get("deploymentStyle") or {}
        if style.get("deploymentType") != "BLUE_GREEN" or style.get("deploymentOption") != "WITH_TRAFFIC_CONTROL":
            raise CodeDeployError("InvalidDeploymentStyleException",
                                  "An ECS deployment group needs deploymentStyle BLUE_GREEN with WITH_TRAFFIC_CONTROL.")
        services = group.get("ecsServices") or []
        if len(services) != 1 or not all(isinstance(s, dict) and s.get("serviceName") and s.get("clusterName")
                                         for s in services):
            raise CodeDeployError("InvalidECSServiceException",
                                  "An ECS deployment group needs exactly one ecsServices entry with serviceName "
                                  "and clusterName.")
        service = services[0]
        from moto.ecs.models import ecs_backends
        ecs = ecs_backends[account][region_name]
        found = ecs.services.get(f"{service['clusterName'].split('/')[-1]}:{service['serviceName'].split('/')[-1]}")
        if found is None or found.status != "ACTIVE":
            raise CodeDeployError("InvalidECSServiceException",
                                  f"The ECS service {service['clusterName']}:{service['serviceName']} does not exist.")
        if (found.deployment_controller or {}).get("type") != "CODE_DEPLOY":
            raise CodeDeployError("InvalidECSServiceException",
                                  f"The ECS service {service['clusterName']}:{service['serviceName']} does not use "
                                  "the CODE_DEPLOY deployment controller.")
        for other_app, groups in region.groups.items():
            for other in groups.values():
                if other.get("deploymentGroupId") == group.get("deploymentGroupId"):
                    continue
                if any(s.get("serviceName") == service["serviceName"] and s.get("clusterName") == service["clusterName"]
                       for s in other.get("ecsServices") or []):
                    raise CodeDeployError("ECSServiceMappingLimitExceededException",
                                          f"The ECS service {service['serviceName']} already belongs to the "
                                          f"deployment group {other_app}/{other['deploymentGroupName']}.")
        pairs = (group.get("loadBalancerInfo") or {}).get("targetGroupPairInfoList") or []
        if len(pairs) != 1:
            raise CodeDeployError("InvalidLoadBalancerInfoException",
                                  "An ECS deployment group needs loadBalancerInfo.targetGroupPairInfoList with one pair.")
        pair = pairs[0]
        tgs = pair.get("targetGroups") or []
        names = [t.get("name") for t in tgs if isinstance(t, dict)]
        if len(tgs) != 2 or len(set(names)) != 2 or not all(names):
            raise CodeDeployError("InvalidTargetGroupPairException",
                                  "The target group pair needs two different target groups, by name.")
        from moto.elbv2.models import elbv2_backends
        elb = elbv2_backends[account][region_name]
        existing = {t.name for t in elb.target_groups.values()}
        for name in names:
            if name not in existing:
                raise CodeDeployError("InvalidTargetGroupPairException", f"The target group {name} does not exist.")
        prod = (pair.get("prodTrafficRoute") or {}).get("listenerArns") or []
        test = (pair.get("testTrafficRoute") or {}).get("listenerArns")
        if len(prod) != 1 or (test is not None and len(test) > 1):
            raise CodeDeployError("InvalidTargetGroupPairException",
                                  "prodTrafficRoute needs exactly one listener ARN (testTrafficRoute at most one).")
        for arn in prod + (test or []):
            try:
                elb.describe_listeners(None, [arn])
            except Exception:
                raise CodeDeployError("InvalidTargetGroupPairException", f"The listener {arn} does not exist.") from None
        bg = group.get("blueGreenDeploymentConfiguration")
        if bg is not None:
            term = bg.get("terminateBlueInstancesOnDeploymentSuccess") or {}
            wait = term.get("terminationWaitTimeInMinutes")
            if term.get("action") not in (None, "TERMINATE", "KEEP_ALIVE") or (
                    wait is not None and (_int(wait) is None or not 0 <= wait <= 2880)):
                raise CodeDeployError("InvalidBlueGreenDeploymentConfigurationException",
                                      "terminateBlueInstancesOnDeploymentSuccess needs action TERMINATE or "
                                      "KEEP_ALIVE and terminationWaitTimeInMinutes 0 to 2880.")

    def op_create_deployment_group(self, region, params, account, region_name):
        app = self._app(region, params)
        name = _name(params, "deploymentGroupName", "DeploymentGroupNameRequiredException",
                     "InvalidDeploymentGroupNameException", "deployment group")
        groups = region.groups.setdefault(app["applicationName"], {})
        if name in groups:
            raise CodeDeployError("DeploymentGroupAlreadyExistsException",
                                  f"A deployment group named {name} already exists in {app['applicationName']}.")
        group = {"applicationName": app["applicationName"], "deploymentGroupId": str(uuid.uuid4()),
                 "deploymentGroupName": name, "computePlatform": app["computePlatform"]}
        self._group_settings(region, app, params, group, account, region_name, creating=True)
        groups[name] = group
        if params.get("tags"):
            region.tags[_arn(account, region_name, f"deploymentgroup:{app['applicationName']}/{name}")] = \
                _tags(params["tags"])
        return {"deploymentGroupId": group["deploymentGroupId"]}

    @staticmethod
    def _group_json(group: dict) -> dict:
        out = {k: json.loads(json.dumps(v)) for k, v in group.items() if not k.startswith("_")}
        if group.get("_lastSuccessfulRevision"):
            out["targetRevision"] = json.loads(json.dumps(group["_lastSuccessfulRevision"]))
        return out

    def op_get_deployment_group(self, region, params, account, region_name):
        _, group = self._group(region, params)
        return {"deploymentGroupInfo": self._group_json(group)}

    def op_batch_get_deployment_groups(self, region, params, account, region_name):
        app = self._app(region, params)
        names = params.get("deploymentGroupNames")
        if not names:
            raise CodeDeployError("DeploymentGroupNameRequiredException", "deploymentGroupNames is required.")
        if len(names) > 100:
            raise CodeDeployError("BatchLimitExceededException", "At most 100 deployment group names are accepted.")
        found, missing = [], []
        for n in names:
            group = region.groups.get(app["applicationName"], {}).get(n)
            (found if group else missing).append(self._group_json(group) if group else n)
        out: dict[str, Any] = {"deploymentGroupsInfo": found}
        if missing:
            out["errorMessage"] = f"Deployment groups not found: {', '.join(missing)}"
        return out

    def op_list_deployment_groups(self, region, params, account, region_name):
        app = self._app(region, params)
        page, token = _page(sorted(region.groups.get(app["applicationName"], {})), params.get("nextToken"))
        return {"applicationName": app["applicationName"], "deploymentGroups": page,
                **({"nextToken": token} if token else {})}

    def op_update_deployment_group(self, region, params, account, region_name):
        app, group = self._group(region, params, "currentDeploymentGroupName")
        updated = json.loads(json.dumps(group))
        self._group_settings(region, app, params, updated, account, region_name, creating=False)
        groups = region.groups[app["applicationName"]]
        new = params.get("newDeploymentGroupName")
        if new and new != group["deploymentGroupName"]:
            new = _name(params, "newDeploymentGroupName", "DeploymentGroupNameRequiredException",
                        "InvalidDeploymentGroupNameException", "deployment group")
            if new in groups:
                raise CodeDeployError("DeploymentGroupAlreadyExistsException",
                                      f"A deployment group named {new} already exists in {app['applicationName']}.")
            del groups[group["deploymentGroupName"]]
            updated["deploymentGroupName"] = new
            for d in region.deployments.values():
                if (d.app_name, d.group_name) == (app["applicationName"], group["deploymentGroupName"]):
                    d.group_name = new
        group.clear()
        group.update(updated)
        groups[group["deploymentGroupName"]] = group
        return {"hooksNotCleanedUp": []}

    def op_delete_deployment_group(self, region, params, account, region_name):
        app = self._app(region, params)
        name = _name(params, "deploymentGroupName", "DeploymentGroupNameRequiredException",
                     "InvalidDeploymentGroupNameException", "deployment group")
        region.groups.get(app["applicationName"], {}).pop(name, None)
        return {"hooksNotCleanedUp": []}

    # -- operations: deployments ---------------------------------------------------------------

    def _deployment(self, region: Region, params: dict) -> Deployment:
        deployment_id = params.get("deploymentId")
        if not deployment_id:
            raise CodeDeployError("DeploymentIdRequiredException", "deploymentId is required.")
        if not isinstance(deployment_id, str) or not DEPLOYMENT_ID.fullmatch(deployment_id):
            raise CodeDeployError("InvalidDeploymentIdException", f"{deployment_id!r} is not a deployment id.")
        d = region.deployments.get(deployment_id)
        if d is None:
            raise CodeDeployError("DeploymentDoesNotExistException", f"No deployment {deployment_id} exists.")
        return d

    def op_create_deployment(self, region, params, account, region_name):
        app = self._app(region, params)
        if not params.get("deploymentGroupName"):
            raise CodeDeployError("DeploymentGroupNameRequiredException", "deploymentGroupName is required.")
        app, group = self._group(region, params)
        platform = app["computePlatform"]
        if platform == "Server":
            raise CodeDeployError("InvalidComputePlatformException",
                                  "EC2/on-premises (Server) deployments are not modelled by the emulator.")
        revision = params.get("revision")
        if not revision:
            raise CodeDeployError("RevisionRequiredException", "revision is required.")
        appspec = _parse_revision(revision, platform)
        config_name = params.get("deploymentConfigName") or group["deploymentConfigName"]
        config = self._config_for(region, config_name, platform)
        if params.get("targetInstances"):
            raise CodeDeployError("InvalidTargetInstancesException",
                                  f"targetInstances does not apply to {platform} deployments.")
        if params.get("ignoreApplicationStopFailures"):
            raise CodeDeployError("InvalidIgnoreApplicationStopFailuresValueException",
                                  f"ignoreApplicationStopFailures must be false for {platform} deployments.")
        if params.get("updateOutdatedInstancesOnly"):
            raise CodeDeployError("InvalidUpdateOutdatedInstancesOnlyValueException",
                                  f"updateOutdatedInstancesOnly must be false for {platform} deployments.")
        override_alarms = _check_alarms(params.get("overrideAlarmConfiguration"))
        rollback_config = _check_rollback(params.get("autoRollbackConfiguration"))
        active = [d for d in region.deployments.values()
                  if d.app_name == app["applicationName"] and d.group_name == group["deploymentGroupName"]
                  and d.status in ACTIVE]
        if active:
            raise CodeDeployError("DeploymentLimitExceededException",
                                  f"Deployment group {group['deploymentGroupName']} already has a deployment in "
                                  f"progress: {active[0].id}. Only one deployment at a time is allowed per group.")
        d = Deployment(self._new_id(region), app, group, config, json.loads(json.dumps(revision)), appspec,
                       creator="user", description=params.get("description"),
                       rollback_config=rollback_config if rollback_config is not None
                       else group.get("autoRollbackConfiguration"),
                       alarm_config=group.get("alarmConfiguration"), override_alarms=override_alarms,
                       now=self.now(), previous_revision=group.get("_lastSuccessfulRevision"))
        d.account, d.region = account, region_name
        region.deployments[d.id] = d
        group["lastAttemptedDeployment"] = {"deploymentId": d.id, "status": d.status, "createTime": d.create_time}
        return {"deploymentId": d.id}

    def _deployment_json(self, d: Deployment) -> dict:
        overview = {k: 0 for k in ("Pending", "InProgress", "Succeeded", "Failed", "Skipped", "Ready")}
        overview[d.target_status if d.target_status in overview else "Pending"] += 1
        out: dict[str, Any] = {
            "applicationName": d.app_name, "deploymentGroupName": d.group_name,
            "deploymentConfigName": d.config["deploymentConfigName"], "deploymentId": d.id,
            "revision": json.loads(json.dumps(d.revision)), "status": d.status, "createTime": d.create_time,
            "deploymentOverview": overview, "creator": d.creator, "ignoreApplicationStopFailures": False,
            "updateOutdatedInstancesOnly": False, "computePlatform": d.platform,
            "instanceTerminationWaitTimeStarted": d.termination_wait_started,
            "deploymentStatusMessages": list(d.status_messages),
            "deploymentStyle": dict(d.group.get("deploymentStyle") or {}),
        }
        if d.previous_revision:
            out["previousRevision"] = json.loads(json.dumps(d.previous_revision))
        if d.start_time is not None:
            out["startTime"] = d.start_time
        if d.complete_time is not None:
            out["completeTime"] = d.complete_time
        if d.description is not None:
            out["description"] = d.description
        if d.error:
            out["errorInformation"] = dict(d.error)
        if d.rollback_info:
            out["rollbackInfo"] = dict(d.rollback_info)
        if d.rollback_config is not None:
            out["autoRollbackConfiguration"] = json.loads(json.dumps(d.rollback_config))
        if d.override_alarms is not None:
            out["overrideAlarmConfiguration"] = json.loads(json.dumps(d.override_alarms))
        if d.platform == "ECS":
            for field in ("loadBalancerInfo", "blueGreenDeploymentConfiguration"):
                if d.group.get(field):
                    out[field] = json.loads(json.dumps(d.group[field]))
        if d.additional_info:
            out["additionalDeploymentStatusInfo"] = d.additional_info
        if d.external_id:
            out["externalId"] = d.external_id
        return out

    def op_get_deployment(self, region, params, account, region_name):
        return {"deploymentInfo": self._deployment_json(self._deployment(region, params))}

    def op_batch_get_deployments(self, region, params, account, region_name):
        ids = params.get("deploymentIds")
        if not ids:
            raise CodeDeployError("DeploymentIdRequiredException", "deploymentIds is required.")
        if len(ids) > 25:
            raise CodeDeployError("BatchLimitExceededException", "At most 25 deployment ids are accepted.")
        out = []
        for deployment_id in ids:
            if not isinstance(deployment_id, str) or not DEPLOYMENT_ID.fullmatch(deployment_id):
                raise CodeDeployError("InvalidDeploymentIdException", f"{deployment_id!r} is not a deployment id.")
            if deployment_id in region.deployments:
                out.append(self._deployment_json(region.deployments[deployment_id]))
        return {"deploymentsInfo": out}

    def op_list_deployments(self, region, params, account, region_name):
        app_name, group_name = params.get("applicationName"), params.get("deploymentGroupName")
        if app_name and not group_name:
            raise CodeDeployError("DeploymentGroupNameRequiredException",
                                  "deploymentGroupName is required when applicationName is given.")
        if group_name and not app_name:
            raise CodeDeployError("ApplicationNameRequiredException",
                                  "applicationName is required when deploymentGroupName is given.")
        if app_name:
            self._group(region, params)
        statuses = params.get("includeOnlyStatuses") or []
        for status in statuses:
            if status not in STATUSES:
                raise CodeDeployError("InvalidDeploymentStatusException", f"{status!r} is not a deployment status.")
        window = params.get("createTimeRange") or {}
        start, end = window.get("start"), window.get("end")
        if start is not None and end is not None and start > end:
            raise CodeDeployError("InvalidTimeRangeException", "The time range starts after it ends.")
        out = []
        for d in sorted(region.deployments.values(), key=lambda d: d.create_time, reverse=True):
            if app_name and (d.app_name, d.group_name) != (app_name, group_name):
                continue
            if statuses and d.status not in statuses:
                continue
            if start is not None and d.create_time < start or end is not None and d.create_time > end:
                continue
            if params.get("externalId") and d.external_id != params["externalId"]:
                continue
            out.append(d.id)
        page, token = _page(out, params.get("nextToken"))
        return {"deployments": page, **({"nextToken": token} if token else {})}

    def op_stop_deployment(self, region, params, account, region_name):
        d = self._deployment(region, params)
        if d.status not in ACTIVE:
            raise CodeDeployError("DeploymentAlreadyCompletedException",
                                  f"The deployment {d.id} is already complete ({d.status}).")
        requested = params.get("autoRollbackEnabled")
        rollback = bool(requested) if requested is not None else self._rollback_on(d, "DEPLOYMENT_STOP_ON_REQUEST")
        self.stop(region, d, "MANUAL_STOP", "The deployment was stopped by a StopDeployment request.",
                  rollback and d.creator != "codeDeployRollback")
        message = f"Deployment {d.id} stopped."
        if d.rollback_info and d.rollback_info.get("rollbackDeploymentId"):
            message += f" Rollback deployment {d.rollback_info['rollbackDeploymentId']} restores the original."
        return {"status": "Succeeded", "statusMessage": message}

    def op_continue_deployment(self, region, params, account, region_name):
        d = self._deployment(region, params)
        if d.platform == "Lambda":
            raise CodeDeployError("UnsupportedActionForDeploymentTypeException",
                                  "ContinueDeployment applies to blue/green EC2 and ECS deployments only.")
        wait_type = params.get("deploymentWaitType") or "READY_WAIT"
        if wait_type not in ("READY_WAIT", "TERMINATION_WAIT"):
            raise CodeDeployError("InvalidDeploymentWaitTypeException", f"{wait_type!r} is not a wait type.")
        if d.status not in ACTIVE:
            raise CodeDeployError("DeploymentAlreadyCompletedException",
                                  f"The deployment {d.id} is already complete ({d.status}).")
        if wait_type == "TERMINATION_WAIT" and d.termination_wait_started:
            d.continue_requested = True
            self._advance(region, d)
            return {}
        raise CodeDeployError("DeploymentIsNotInReadyStateException",
                              f"The deployment {d.id} is not waiting for {wait_type}.")

    def op_put_lifecycle_event_hook_execution_status(self, region, params, account, region_name):
        d = self._deployment(region, params)
        status = params.get("status")
        if status not in ("Succeeded", "Failed"):
            raise CodeDeployError("InvalidLifecycleEventHookExecutionStatusException",
                                  f"The status must be Succeeded or Failed, not {status!r}.")
        execution_id = params.get("lifecycleEventHookExecutionId")
        ev = next((e for e in d.events if e.execution_id and e.execution_id == execution_id), None)
        if ev is None:
            raise CodeDeployError("InvalidLifecycleEventHookExecutionIdException",
                                  f"The deployment {d.id} has no hook execution {execution_id!r}.")
        if ev.hook_result is not None or ev.status != "InProgress" or d.status not in ACTIVE:
            raise CodeDeployError("LifecycleEventAlreadyCompletedException",
                                  f"The {ev.name} event of deployment {d.id} is already complete.")
        ev.hook_result = status
        self._advance(region, d)
        return {"lifecycleEventHookExecutionId": execution_id}

    # -- operations: targets ---------------------------------------------------------------------

    def _started(self, d: Deployment) -> None:
        if d.status == "Created":
            raise CodeDeployError("DeploymentNotStartedException", f"The deployment {d.id} has not started yet.")

    def op_list_deployment_targets(self, region, params, account, region_name):
        d = self._deployment(region, params)
        self._started(d)
        filters = params.get("targetFilters") or {}
        for key, values in filters.items():
            if key not in ("TargetStatus", "ServerInstanceLabel"):
                raise CodeDeployError("InvalidTargetFilterNameException", f"{key!r} is not a target filter name.")
        wanted = filters.get("TargetStatus")
        ids = [d.target_id] if not wanted or d.target_status in wanted else []
        return {"targetIds": ids}

    def _target_json(self, d: Deployment) -> dict:
        common: dict[str, Any] = {"deploymentId": d.id, "targetId": d.target_id, "status": d.target_status,
                                  "lastUpdatedAt": d.target_updated,
                                  "lifecycleEvents": [e.to_json() for e in d.events]}
        if d.platform == "Lambda":
            res = _lambda_resource(d.appspec, strict=False)
            function, alias = d.function or res.get("name", ""), d.alias or res.get("alias", "")
            common["targetArn"] = _lambda_arn(d, function, alias)
            common["lambdaFunctionInfo"] = {
                "functionName": function, "functionAlias": alias,
                "currentVersion": d.current_version or res.get("currentversion", ""),
                "targetVersion": d.target_version or res.get("targetversion", ""),
                "targetVersionWeight": d.weight}
            return {"deploymentTargetType": "LambdaTarget", "lambdaTarget": common}
        service = (d.group.get("ecsServices") or [{}])[0]
        common["targetArn"] = (f"arn:aws:ecs:{d.region}:{d.account}:service/{service.get('clusterName')}/"
                               f"{service.get('serviceName')}")
        common["taskSetsInfo"] = self._task_sets_info(d)
        return {"deploymentTargetType": "ECSTarget", "ecsTarget": common}

    def _task_sets_info(self, d: Deployment) -> list[dict]:
        if not d.cluster:
            return []
        try:
            task_sets = {ts.task_set_arn: ts for ts in self._ecs(d).describe_task_sets(d.cluster, d.service, [])}
        except Exception:
            task_sets = {}
        names = {}
        try:
            names = {tg.arn: tg.name for tg in self._elb(d).target_groups.values()}
        except Exception:
            pass
        try:
            desired = self._ecs(d).services[f"{d.cluster.split('/')[-1]}:{d.service.split('/')[-1]}"].desired_count
        except Exception:
            desired = 0
        out = []
        for arn, label, tg, weight in ((d.blue_ts, "Blue", d.blue_tg, 100.0 - d.weight),
                                       (d.green_ts, "Green", d.green_tg, d.weight)):
            ts = task_sets.get(arn) if arn else None
            if ts is None:
                continue
            scale = (ts.scale or {}).get("value", 100.0) if (ts.scale or {}).get("unit", "PERCENT") == "PERCENT" else 100.0
            out.append({"identifer": ts.id, "desiredCount": int(desired * scale / 100.0), "pendingCount": 0,
                        "runningCount": 0,
                        "status": ts.status, "trafficWeight": weight,
                        "targetGroup": {"name": names.get(tg, "")}, "taskSetLabel": label})
        return out

    def op_batch_get_deployment_targets(self, region, params, account, region_name):
        d = self._deployment(region, params)
        ids = params.get("targetIds")
        if not ids:
            raise CodeDeployError("DeploymentTargetIdRequiredException", "targetIds is required.")
        if len(ids) > 1:
            raise CodeDeployError("DeploymentTargetListSizeExceededException",
                                  f"A {d.platform} deployment has exactly one target; {len(ids)} ids were given.")
        self._started(d)
        if ids[0] != d.target_id:
            raise CodeDeployError("DeploymentTargetDoesNotExistException",
                                  f"The deployment {d.id} has no target {ids[0]!r}.")
        return {"deploymentTargets": [self._target_json(d)]}

    def op_get_deployment_target(self, region, params, account, region_name):
        d = self._deployment(region, params)
        target = params.get("targetId")
        if not target:
            raise CodeDeployError("DeploymentTargetIdRequiredException", "targetId is required.")
        self._started(d)
        if target != d.target_id:
            raise CodeDeployError("DeploymentTargetDoesNotExistException",
                                  f"The deployment {d.id} has no target {target!r}.")
        return {"deploymentTarget": self._target_json(d)}

    # -- operations: tags ---------------------------------------------------------------------------

    def _tagged(self, region: Region, arn: Any, account: str, region_name: str) -> str:
        if not arn:
            raise CodeDeployError("ResourceArnRequiredException", "ResourceArn is required.")
        m = re.fullmatch(r"arn:aws[a-z-]*:codedeploy:([^:]*):([0-9]{12}):(application|deploymentgroup|"
                         r"deploymentconfig):(.+)", str(arn))
        if m is None:
            raise CodeDeployError("InvalidArnException", f"{arn!r} is not a CodeDeploy ARN.")
        kind, rest = m[3], m[4]
        if kind == "application" and rest not in region.applications:
            raise CodeDeployError("ApplicationDoesNotExistException", f"No application named {rest} exists.")
        if kind == "deploymentgroup":
            app, _, group = rest.partition("/")
            if app not in region.applications:
                raise CodeDeployError("ApplicationDoesNotExistException", f"No application named {app} exists.")
            if group not in region.groups.get(app, {}):
                raise CodeDeployError("DeploymentGroupDoesNotExistException", f"No deployment group {rest} exists.")
        if kind == "deploymentconfig" and self._config(region, rest) is None:
            raise CodeDeployError("DeploymentConfigDoesNotExistException",
                                  f"No deployment configuration named {rest} exists.")
        return str(arn)

    def op_tag_resource(self, region, params, account, region_name):
        arn = self._tagged(region, params.get("ResourceArn"), account, region_name)
        tags = {t["Key"]: t.get("Value", "") for t in region.tags.get(arn, [])}
        for tag in params.get("Tags") or []:
            if not isinstance(tag, dict) or not tag.get("Key"):
                raise CodeDeployError("InvalidTagsToAddException", "Each tag needs a Key.")
            tags[tag["Key"]] = tag.get("Value", "")
        region.tags[arn] = [{"Key": k, "Value": v} for k, v in tags.items()]
        return {}

    def op_untag_resource(self, region, params, account, region_name):
        arn = self._tagged(region, params.get("ResourceArn"), account, region_name)
        keys = set(params.get("TagKeys") or [])
        region.tags[arn] = [t for t in region.tags.get(arn, []) if t["Key"] not in keys]
        return {}

    def op_list_tags_for_resource(self, region, params, account, region_name):
        arn = self._tagged(region, params.get("ResourceArn"), account, region_name)
        return {"Tags": [dict(t) for t in region.tags.get(arn, [])]}


def _check_routing(routing: Any) -> dict:
    if routing is None:
        return {"type": "AllAtOnce"}
    if not isinstance(routing, dict):
        raise CodeDeployError("InvalidTrafficRoutingConfigurationException", "trafficRoutingConfig must be an object.")
    kind = routing.get("type")
    if kind == "AllAtOnce":
        if routing.get("timeBasedCanary") or routing.get("timeBasedLinear"):
            raise CodeDeployError("InvalidTrafficRoutingConfigurationException",
                                  "An AllAtOnce routing takes no timeBasedCanary or timeBasedLinear.")
        return {"type": "AllAtOnce"}
    fields = {"TimeBasedCanary": ("timeBasedCanary", "canaryPercentage", "canaryInterval", "timeBasedLinear"),
              "TimeBasedLinear": ("timeBasedLinear", "linearPercentage", "linearInterval", "timeBasedCanary")}
    if kind not in fields:
        raise CodeDeployError("InvalidTrafficRoutingConfigurationException",
                              f"The routing type {kind!r} is not TimeBasedCanary, TimeBasedLinear or AllAtOnce.")
    section, percent_field, interval_field, other = fields[kind]
    body = routing.get(section)
    if not isinstance(body, dict) or routing.get(other):
        raise CodeDeployError("InvalidTrafficRoutingConfigurationException",
                              f"A {kind} routing needs {section} (and no {other}).")
    percent, interval = _int(body.get(percent_field)), _int(body.get(interval_field))
    if percent is None or not 1 <= percent <= 99 or interval is None or interval < 1:
        raise CodeDeployError("InvalidTrafficRoutingConfigurationException",
                              f"{section} needs {percent_field} 1 to 99 and {interval_field} of at least 1 minute.")
    return {"type": kind, section: {percent_field: percent, interval_field: interval}}


def _parse_revision(revision: Any, platform: str) -> dict:
    if not isinstance(revision, dict):
        raise CodeDeployError("InvalidRevisionException", "revision must be an object.")
    kind = revision.get("revisionType")
    allowed = ("AppSpecContent", "String") if platform == "Lambda" else ("AppSpecContent",)
    if kind not in allowed:
        raise CodeDeployError("InvalidRevisionException",
                              f"revisionType {kind!r} is not supported here for {platform} deployments "
                              f"(use {' or '.join(allowed)}; S3 revisions are not modelled by the emulator).")
    body = revision.get("appSpecContent" if kind == "AppSpecContent" else "string") or {}
    content = body.get("content") if isinstance(body, dict) else None
    if not isinstance(content, str) or not content.strip():
        raise CodeDeployError("InvalidRevisionException", "The revision's AppSpec content is empty.")
    sha = body.get("sha256")
    if sha and sha.lower() != hashlib.sha256(content.encode()).hexdigest():
        raise CodeDeployError("InvalidRevisionException", "The revision's sha256 does not match its content.")
    try:
        parsed = yaml.safe_load(content)
    except yaml.YAMLError as exc:
        raise CodeDeployError("InvalidRevisionException", f"The AppSpec content is neither JSON nor YAML: {exc}") from None
    if not isinstance(parsed, dict):
        raise CodeDeployError("InvalidRevisionException", "The AppSpec content is not a mapping.")
    return _lower_keys(parsed)


def _ecs_network(config: dict) -> dict:
    vpc = config.get("awsvpcconfiguration") or {}
    out: dict[str, Any] = {"subnets": list(vpc.get("subnets") or []),
                           "securityGroups": list(vpc.get("securitygroups") or [])}
    if vpc.get("assignpublicip"):
        out["assignPublicIp"] = vpc["assignpublicip"]
    return {"awsvpcConfiguration": out}


def _forward_weights(listener) -> dict[str, float]:
    if listener is None or not listener.default_actions:
        return {}
    data = listener.default_actions[0].data
    groups = (data.get("ForwardConfig") or {}).get("TargetGroups")
    if groups:
        return {g["TargetGroupArn"]: float(g.get("Weight", 1)) for g in groups}
    if data.get("TargetGroupArn"):
        return {data["TargetGroupArn"]: 1.0}
    return {}


def _lambda_arn(d: Deployment, function: str, alias: str) -> str:
    return f"arn:aws:lambda:{d.region}:{d.account}:function:{function}:{alias}"


def _arn(account: str, region: str, resource: str) -> str:
    return f"arn:aws:codedeploy:{region}:{account}:{resource}"


def _tags(tags: Iterable[dict]) -> list[dict]:
    return [{"Key": t["Key"], "Value": t.get("Value", "")} for t in tags if isinstance(t, dict) and t.get("Key")]


# -- moto ECS: the first task set of a CODE_DEPLOY service -------------------------------

_installed = False


def install() -> None:
    """moto's CreateService makes no task set for a service whose deployment
    controller is CODE_DEPLOY; AWS makes a PRIMARY one from the service's task
    definition and load balancer. Patch that in (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    from moto.ecs import models as ecs_models

    backend_class = ecs_models.EC2ContainerServiceBackend
    moto_create_service = backend_class.create_service

    def create_service(self, cluster_str, service_name, *args, **kwargs):
        service = moto_create_service(self, cluster_str, service_name, *args, **kwargs)
        if (service.deployment_controller or {}).get("type") == "CODE_DEPLOY" and service.task_definition \
                and not service.task_sets:
            task_set = self.create_task_set(
                service.arn, cluster_str, service.task_definition, external_id="codedeploy-initial",
                load_balancers=service.load_balancers or None, launch_type=service.launch_type,
                platform_version=service.platform_version)
            self.update_service_primary_task_set(cluster_str, service.arn, task_set.task_set_arn)
        return service

    backend_class.create_service = create_service
