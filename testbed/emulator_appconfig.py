"""AWS AppConfig (feature flags, deployments, rollbacks) and AppConfigData as AWS documents them.

moto 5.2.5's AppConfig keeps applications, configuration profiles and hosted configuration
versions and nothing more (measured with boto3 against moto's server): environments,
deployment strategies and deployments answer 404 (an HTML page: no route), so do
AppConfigData's StartConfigurationSession and GetLatestConfiguration; ListApplications and
ListHostedConfigurationVersions answer HTTP 500; ResourceNotFoundException comes with status
400 instead of 404; a missing Description or VersionLabel comes back as the string "None";
Latest-Version-Number is ignored; nothing is validated (a feature flag profile takes any bytes);
DeleteApplication of a missing application succeeds.

`AppConfigFront` is a WSGI middleware in front of moto. Every request whose SigV4 credential
scope names the service `appconfig` is answered here: that is both AppConfig (endpoint prefix
`appconfig`) and AppConfigData (endpoint prefix `appconfigdata`), whose models both give the
signing name `appconfig`. The operation is found from the method and path with botocore's
models (the same Smithy models the SDKs are generated from); AppConfigData's two paths,
`POST /configurationsessions` and `GET /configuration?configuration_token=...`, are not used by
AppConfig, so one endpoint serves both. Everything is kept in a store of this module's own, per
account and region (`emulator_route53.account_and_region`); moto's AppConfig backend is not
used at all, so the two cannot disagree. `POST /moto-api/reset` clears this store too.

Wiring (emulator.py): `add_arguments(parser)` adds `--appconfig-minute`, `wrap(app, args)` puts
the middleware in front and starts the engine thread.

Reaching it from the Rust SDK: `aws-sdk-appconfig` and `aws-sdk-appconfigdata` both take the
emulator's URL as the endpoint (`AWS_ENDPOINT_URL`, or `endpoint_url(...)` on the config
builder); with an endpoint override the SDK sends its requests to that URL as-is (no
`appconfigdata.` host prefix), signed for `appconfig`, which is all the front needs.

Checked with the real Rust SDKs (aws-sdk-appconfig 1.125 and aws-sdk-appconfigdata 1.120 with
aws-config 1.13, a throwaway crate, endpoint_url = the emulator): environments with monitors,
hosted versions (headers, Latest-Version-Number giving `is_conflict_exception()`, a bad flag
document giving BadRequestException with `reason()` InvalidConfiguration and
`details()` BadRequestDetails::InvalidConfiguration), a predefined strategy (GrowthFactor and
PercentageComplete are `Option<f32>` there), StartDeployment / GetDeployment (timestamps and the
event log parsed) / a second one's ConflictException / StopDeployment / ListDeployments,
`is_resource_not_found_exception()`, StartConfigurationSession by names,
GetLatestConfiguration (body, Content-Type, Version-Label, Next-Poll-Interval-In-Seconds, the
next token), a reused token's BadRequestException with InvalidParameters
{"ConfigurationToken": {Problem: Expired}}, a missing environment's ResourceType.

Conventions: "moto" is what moto 5.2.5 does, "AWS" what the AppConfig API reference and user
guide document, "here" what this module does. Error messages are the emulator's own wording.
Errors are rest-json: the HTTP status of the error shape, header `x-amzn-ErrorType: <Code>`,
body `{"Message": ..., <the shape's other members>}`: BadRequestException 400 (`Reason`,
`Details`), ResourceNotFoundException 404 (AppConfig: `ResourceName`; AppConfigData:
`ResourceType`), ConflictException 409. Input is checked against the model's constraints
(required members, lengths, patterns, ranges, enums) as AWS does: BadRequestException. Any
other AppConfig operation (extensions, experiments, account settings, GetConfiguration,
ValidateConfiguration): HTTP 400 `UnknownOperationException` "not modelled by the emulator".
Timestamps are ISO 8601 strings in UTC with milliseconds (the model's `iso8601` format).
Identifiers are 7 characters of [a-z0-9] (the model's pattern is [a-z0-9]{4,7}).

Operations (status on success)
------------------------------
Applications: CreateApplication 201, GetApplication, ListApplications, UpdateApplication,
DeleteApplication 204. Configuration profiles: CreateConfigurationProfile 201,
GetConfigurationProfile, ListConfigurationProfiles (Type filter), UpdateConfigurationProfile,
DeleteConfigurationProfile 204. Environments: CreateEnvironment 201, GetEnvironment,
ListEnvironments, UpdateEnvironment, DeleteEnvironment 204. Deployment strategies:
CreateDeploymentStrategy 201, GetDeploymentStrategy, ListDeploymentStrategies,
UpdateDeploymentStrategy, DeleteDeploymentStrategy 204 (on AWS's path
`/deployementstrategies/{id}`, sic). Hosted configuration versions:
CreateHostedConfigurationVersion 201, GetHostedConfigurationVersion,
ListHostedConfigurationVersions, DeleteHostedConfigurationVersion 204. Deployments:
StartDeployment 201, GetDeployment, ListDeployments, StopDeployment 202. Tags: TagResource 204,
UntagResource 204, ListTagsForResource (applications, environments, profiles, strategies,
deployments). AppConfigData: StartConfigurationSession 201, GetLatestConfiguration 200.
Lists take MaxResults (1..50, default 50) and an opaque NextToken (a bad one:
BadRequestException). Other statuses are 200.

1. Applications, configuration profiles, environments
-----------------------------------------------------
moto: see above. AWS: environments have `Monitors` (at most 5: AlarmArn, AlarmRoleArn) and a
`State` (READY_FOR_DEPLOYMENT, DEPLOYING, ROLLING_BACK, ROLLED_BACK, REVERTED).
Here: the fields of the model, Get/Update (only the fields given) / Delete of a missing id:
ResourceNotFoundException. A profile's Type is AWS.Freeform (default) or
AWS.AppConfig.FeatureFlags, anything else BadRequestException; a feature flag profile must be
hosted (LocationUri "hosted"); validators are stored and checked for form (a JSON_SCHEMA
validator's content is JSON, a LAMBDA one's an ARN) but not run. A monitor's AlarmArn must be a
CloudWatch alarm ARN (arn:aws:cloudwatch:<region>:<account>:alarm:<name>), else
BadRequestException; AlarmRoleArn is kept (IAM is not consulted). An environment starts
READY_FOR_DEPLOYMENT; its state follows its deployments (section 4). DeleteEnvironment while
a deployment to it is in progress (or rolling back): ConflictException;
DeleteConfigurationProfile while a deployment of it is in progress: ConflictException (deletion
protection is not modelled: both delete otherwise). DeleteApplication deletes its profiles,
versions, environments and deployments. Names need not be unique (no such error is
documented).

2. Deployment strategies
------------------------
AWS ("Using predefined deployment strategies"; "Working with deployment strategies"):
AppConfig.Linear20PercentEvery6Minutes (LINEAR 20 %, 30 minutes, bake 30),
AppConfig.Canary10Percent20Minutes (EXPONENTIAL 10 %, 20 minutes, bake 10), AppConfig.AllAtOnce
(all targets at once, bake 10), AppConfig.Linear50PercentEvery30Seconds (LINEAR 50 %, 1 minute,
bake 1). Custom ones: DeploymentDurationInMinutes 0..1440, FinalBakeTimeInMinutes 0..1440,
GrowthFactor 1..100, GrowthType LINEAR (default) | EXPONENTIAL, ReplicateTo NONE | SSM_DOCUMENT.
Here: the four predefined ones with Id = Name = the names above (AllAtOnce: duration 0, growth
factor 100, LINEAR), listed first; custom ones get an id. Updating or deleting a predefined one:
BadRequestException; a missing id: ResourceNotFoundException. A deployment copies its
strategy's values when it starts, so updating or deleting a strategy does not change running
deployments. ReplicateTo is stored only.

3. Hosted configuration versions and feature flag documents
-----------------------------------------------------------
moto: stores anything, ignores Latest-Version-Number, lists nothing (500).
AWS: CreateHostedConfigurationVersion takes the content as the body, ContentType, Description,
VersionLabel (at least one non-digit) and Latest-Version-Number as headers; the answer carries
the same as headers (Application-Id, Configuration-Profile-Id, Version-Number, Description,
Content-Type, VersionLabel) and the content as body. Latest-Version-Number is "an optional
locking token ... specify the version number of the latest hosted configuration version".
Feature flag content follows "Type reference for AWS.AppConfig.FeatureFlags"; AWS rejects
malformed flag content with BadRequestException.
Here:
* Latest-Version-Number different from the profile's latest existing version number (or given
  when the profile has no version): ConflictException, nothing written. Version numbers grow
  from 1 and are never reused (after a delete too). A VersionLabel already used in the profile:
  ConflictException. A profile not in the hosted store: BadRequestException.
* ListHostedConfigurationVersions: newest first; VersionLabel filters exactly, or by prefix
  with a trailing `*` ("v2*"). Get/Delete of a missing version: ResourceNotFoundException.
* A feature flag profile takes ContentType application/json only (parameters such as charset
  allowed), else BadRequestException; the document is checked against the documented schema
  and what the user guide adds: `version` "1" required, only `version`/`flags`/`values` at the
  top; flag and attribute keys ^[a-z][a-zA-Z0-9_-]{0,63}$; flag definitions with only name
  (1 to 64 characters, no line break), description (<= 1024), _createdAt, _updatedAt, _deprecation {status
  "planned", date YYYY-MM-DD}, attributes (at most 25; the name "enabled" is reserved; each
  with description and constraints of type number {minimum, maximum integers}, string
  {pattern or enum, not both}, array {elements: number or string constraints} or boolean, each
  with `required`); `values` only for defined flags; a flag's values: enabled (boolean),
  _createdAt, _updatedAt, _variants, and values only for the flag's defined attributes, each a
  string (<= 1024), number, boolean or array of strings or of numbers, within its constraints
  (type, pattern found in the string, enum, minimum, maximum, array elements); a `required`
  attribute must have a value when the flag (or variant) is enabled. `_variants`: a non-empty
  list of {name (unique in the flag), enabled (both required), rule (<= 16384), attributeValues
  (as values)}; every variant but the last has a rule that parses (section 6), the last one is
  the default and has none ("the default variant must be last ... and it can't have rules").
  Any problem: BadRequestException with `Reason` "InvalidConfiguration" and `Details`
  {"InvalidConfiguration": [{"Location": "$.values.flag.attr", "Constraint": "enum", "Reason":
  ..., "Type": "AWS.AppConfig.FeatureFlags", "Value": ...}, ...]}, one entry per problem.
  Freeform profiles take any bytes and content type.

4. Deployments
--------------
moto: no route (404).
AWS: StartDeployment (ApplicationId, EnvironmentId, DeploymentStrategyId,
ConfigurationProfileId, ConfigurationVersion: a hosted version's number or label, Description,
Tags, KmsKeyIdentifier, DynamicExtensionParameters, LatestDeploymentNumber "to ensure that the
deployment starts from the expected state") returns the Deployment; DeploymentNumber is the
environment's sequence; State BAKING | VALIDATING | DEPLOYING | COMPLETE | ROLLING_BACK |
ROLLED_BACK | REVERTED; EventLog "most recent events first" of {EventType (PERCENTAGE_UPDATED,
ROLLBACK_STARTED, ROLLBACK_COMPLETED, BAKE_TIME_STARTED, DEPLOYMENT_STARTED,
DEPLOYMENT_COMPLETED, REVERT_COMPLETED), TriggeredBy (USER, APPCONFIG, CLOUDWATCH_ALARM,
INTERNAL_ERROR), Description, OccurredAt}; ListDeployments "in descending deployment number
order". Growth ("Working with deployment strategies"): LINEAR "by increments of the growth
factor evenly distributed over the deployment" (10 hours at 20 %: 20 % at 2 h, 40 % at 4 h, ...
100 % at 10 h); EXPONENTIAL G*(2^N) (2 %, 4 %, 8 %, ...). The final bake begins once the
configuration reaches 100 % of its targets; alarms are watched during it; then COMPLETE.
Here:
* StartDeployment checks the application, environment and profile (ResourceNotFoundException),
  the strategy (ResourceNotFoundException), that the profile is hosted (else
  BadRequestException: other stores are not modelled), the version by number or label
  (ResourceNotFoundException), LatestDeploymentNumber against the environment's latest
  deployment number (ConflictException), then that no deployment to the environment is in
  progress or rolling back ("one deployment at a time per environment": ConflictException naming
  it). The deployment copies the version's content and the strategy's values; the environment
  becomes DEPLOYING.
* Growth: the steps are G, 2G, 3G, ... (LINEAR; the last step 100) or G, 2G, 4G, 8G, ...
  (EXPONENTIAL, G*2^N; the last step 100); with N steps over a duration D, step k (1..N) is
  reached at k*D/N minutes after the start, so PercentageComplete is 0 until D/N and 100 at D;
  D = 0 gives 100 at once. (LINEAR 25 over 4 minutes: 25/50/75/100 % at 1/2/3/4; EXPONENTIAL 10
  over 20 minutes: 10/20/40/80/100 % at 4/8/12/16/20; Linear50PercentEvery30Seconds: 50 % at 30
  s, 100 % at 60 s.) Each step logs PERCENTAGE_UPDATED "Configuration available to 25.00% of
  clients" (APPCONFIG) at the time it was due.
* At D the deployment is BAKING (BAKE_TIME_STARTED) for FinalBakeTimeInMinutes, then COMPLETE
  (DEPLOYMENT_COMPLETED, CompletedAt); the environment is READY_FOR_DEPLOYMENT again. VALIDATING
  is never used (validators are not run).
* StopDeployment (Allow-Revert header optional): on a deployment DEPLOYING or BAKING: State
  ROLLING_BACK (ROLLBACK_STARTED by USER), one AppConfig second later ROLLED_BACK
  (ROLLBACK_COMPLETED, CompletedAt), the environment ROLLING_BACK then ROLLED_BACK; answered 202
  with the deployment. On a COMPLETE one: with AllowRevert true, REVERTED at once
  (REVERT_COMPLETED by USER), the environment REVERTED; without it BadRequestException, as
  after 72 AppConfig hours; on anything else BadRequestException ("Reverting a configuration"
  lists these five cases). Only the configuration in effect can be reverted: a COMPLETE
  deployment of the same profile after it, or a deployment to the environment in progress:
  BadRequestException.
* Monitors: while a deployment is DEPLOYING or BAKING, every engine tick (and every request)
  reads the state of each of the environment's alarms from moto's CloudWatch backend (the data
  DescribeAlarms answers from). An alarm in ALARM or INSUFFICIENT_DATA ("Monitoring deployments
  for automatic rollback") with actions enabled rolls the deployment back as above, with
  ROLLBACK_STARTED by CLOUDWATCH_ALARM naming the alarm ARN; an alarm with actions disabled is
  ignored (documented); an alarm that does not exist rolls back with TriggeredBy INTERNAL_ERROR.
  The environment's current monitors are used (an UpdateEnvironment applies to a running
  deployment). moto starts a new alarm in OK (AWS: INSUFFICIENT_DATA, which would roll back at
  once); tests set states with SetAlarmState.
* What clients get (section 5): during DEPLOYING and BAKING a share PercentageComplete of the
  sessions gets the new version, the others the previous one; after COMPLETE all get the new
  one; from ROLLING_BACK on, and after a revert, all get the previous version (the latest
  COMPLETE deployment of that profile to that environment), i.e. "the previous version" of the
  docs.
* GetDeployment / StopDeployment of a missing number: ResourceNotFoundException. The Deployment
  shows ApplicationId, EnvironmentId, DeploymentStrategyId, ConfigurationProfileId,
  DeploymentNumber, ConfigurationName (the profile's name), ConfigurationLocationUri,
  ConfigurationVersion (the version number, as a string), VersionLabel, Description, the
  strategy's four values, State, EventLog, PercentageComplete, StartedAt, CompletedAt,
  AppliedExtensions [] and KmsKeyIdentifier. ListDeployments: DeploymentSummary items.

5. The data plane (AppConfigData)
---------------------------------
moto: no route (404).
AWS: StartConfigurationSession (ApplicationIdentifier, EnvironmentIdentifier,
ConfigurationProfileIdentifier: id or name; RequiredMinimumPollIntervalInSeconds 15..86400)
answers 201 {InitialConfigurationToken}. GetLatestConfiguration (`configuration_token` query)
answers the configuration as body with Next-Poll-Configuration-Token,
Next-Poll-Interval-In-Seconds, Content-Type and Version-Label headers; "This API may return empty
configuration data if the client already has the latest version", Version-Label is then empty;
"Each configuration token is only valid for one call"; tokens last 24 hours; an expired one is
BadRequestException (Details InvalidParameters: {"ConfigurationToken": {"Problem": Corrupted |
Expired | PollIntervalNotSatisfied}}). Feature flags are retrieved in the "retrieval-time
format": flag key -> {"enabled": ..., attributes only when enabled}; a configuration with a
multi-variant flag is Amazon Ion for the agent, and "AWS CLI and SDK calls ... don't retrieve
variant data".
Here:
* Sessions resolve identifiers by id, else by name (the oldest of that name); unknown:
  ResourceNotFoundException with ResourceType Application / Environment / ConfigurationProfile.
* Tokens are opaque, single use: the token of the previous call, reused: Problem "Expired";
  one that was never issued (or of another account or region): "Corrupted"; a token older than
  24 AppConfig hours: "Expired". With RequiredMinimumPollIntervalInSeconds, a call sooner than
  that (in AppConfig seconds) after the previous one: "PollIntervalNotSatisfied", and the token
  stays usable. Next-Poll-Interval-In-Seconds is that value, default 60 (AWS seconds: a client
  using the time scale shortens its sleep itself).
* Which version a session receives: see section 4. Each session draws a fixed number in
  [0, 100) per deployment (a hash of the session and the deployment) and receives the deploying
  version while its number is below PercentageComplete: the assignment is sticky as the
  percentage grows, and the share of sessions on the new version follows PercentageComplete.
* The body is the version's content, or empty when the session's previous answer already
  carried that same deployment's version (then no Version-Label). Content-Type is the version's
  (feature flags: application/json). Before anything is deployed to the session (nothing
  COMPLETE, and outside a first deployment's percentage): 200 with an empty body and no
  Content-Type.
* Feature flag profiles are served in the retrieval format (a multi-variant flag as its default
  variant, the last, with no `_variant` key). When the request's Accept names application/ion
  (as the agent's does) and the document has a multi-variant flag, the answer is the documented
  Ion form instead, Content-Type `application/ion;type=AWS.AppConfig.FeatureFlags`: per flag
  `'key'::'''{json}'''`, or `'key'::[[rule, '''{"_variant": name, ...}'''], ..., '''{default}''']`.

6. Multi-variant flags: the rule language and the agent's evaluation
--------------------------------------------------------------------
AWS: variants are evaluated by AppConfig Agent, not by GetLatestConfiguration ("Understanding
multi-variant feature flag rules", "Defining rules for multi-variant feature flags"): in
order, the first whose rule is true wins, else the default. Rules are Ion s-expressions over
strings, 64-bit integers, floats, timestamps, booleans and context values `$key`: eq, gt, gte,
lt, lte; and, or, not; begins_with, ends_with, contains, in (a list of constants),
matches (in::, pattern::), exists (key::), split (pct::, by::, optional seed::) which "evaluates
to true for a given percentage of traffic based on a consistent hash"; without a seed the hash
is consistent within the flag, with one across flags, profiles and accounts.
Here: `evaluate_flag(source, flag, context) -> FlagResult(enabled, variant, attributes)` and
`evaluate_flags(source, context)`, the test bed's stand-in for the agent, also at the test-only
`POST /_appconfig/evaluate` ({"document", "flag" (optional), "context"} -> {"enabled",
"variant", "attributes"}, or {"flags": {key: the agent's JSON}}). `source` is the definition
(dict), the Ion retrieval format (str/bytes) or the JSON retrieval format. Semantics chosen
where the docs are silent:
* a missing context key makes a comparison, string test, `in`, `matches` and `split` false
  (and `not` of that true); `exists` is true for a present, non-null value;
* context values are compared after conversion to the other operand's type (numbers from
  strings, booleans from "true"/"false", timestamps from ISO text), as context often arrives
  as strings; incomparable types are false;
* begins_with / ends_with / contains need strings; matches uses a regular-expression search
  (re.search); `in` compares each list element as eq does;
* split: bucket = the first 8 bytes of SHA-256("seed:<seed>" or "flag:<flag key>", 0x1F, the
  value's text) / 2^64 * 100, true when bucket < pct. Two splits of a flag without seeds (or
  with the same seed) share buckets, so A (pct 20) then B (pct 25) give 20 % and 5 %, as the
  guide's example; different seeds are independent (B gets 25 % of the 80 % left).

7. Time (test-only scale)
-------------------------
`--appconfig-minute SECONDS` (environment EMULATOR_APPCONFIG_MINUTE; the option wins): real
seconds per AppConfig minute, default 60 as on AWS. Deployment durations, bakes, the rollback
step, the 72-hour revert window, token lifetime and poll intervals are measured in it. A
background thread ("appconfig-engine") advances deployments and polls alarms every AppConfig
second (minute / 60 real seconds, at least 0.02, at most 1); every request advances them first.
Event times are when each step was due (start + k*D/N minutes), timestamps real wall-clock time.

Not modelled: configuration stores other than hosted (S3, SSM, Secrets Manager, CodePipeline),
validators being run (and so VALIDATING), extensions and AppliedExtensions, experiments,
KMS encryption (KmsKeyArn), deletion protection and account settings, GetConfiguration,
ValidateConfiguration, entity-based gradual deployments, ReplicateTo SSM documents, service
quotas (ServiceQuotaExceededException) and PayloadTooLargeException, ThrottlingException,
the agent's own HTTP API (its Context headers), cross-account alarm ARNs' permissions
(AlarmRoleArn is not used).

Ambiguities and the choice made here
-------------------------------------
* Linear timing: the user guide's table (10 h at 20 %: 0 % at 0 h, 20 % at 2 h ... 100 % at
  10 h) and the predefined names ("every 30 seconds for a one-minute deployment") say step k at
  k*D/N; the API reference says a linear deployment "initially makes the configuration available
  to 20 percent ... After 1/5th of the deployment time ... 40 percent"; the aws-cli example
  get-deployment shows 25 % steps 3 minutes apart in a 15-minute deployment. Here: k*D/N, the
  same rule for EXPONENTIAL.
* StopDeployment during BAKING: the API reference says it "works only on deployments that have
  a status of DEPLOYING, unless an AllowRevert parameter is supplied"; the user guide says an
  in-progress deployment goes to ROLLED_BACK. Here a BAKING (or VALIDATING) deployment is
  refused (BadRequestException) without AllowRevert and rolled back with it.
* The Latest-Version-Number mismatch error is not named; ConflictException (declared by the
  operation: "conflict in the current state of the resource") is used.
* Feature flag problems: AWS names no detail format; here one InvalidConfiguration detail per
  problem as above. `maxLength` on arrays in the schema (enum 100, _variants 32) has no
  effect in JSON Schema and is not enforced.
* A reused token: Problem "Expired" (the token is no longer valid); garbage: "Corrupted".
* GetLatestConfiguration before any deployment completed: not documented; an empty 200.
* What SDK callers receive for a multi-variant flag (no variant data) is not documented: the
  default variant's status and attributes, what the agent returns without context.
* Whether GetLatestConfiguration returns Ion to non-agent callers: only when Accept asks for
  application/ion.
* A missing alarm: rollback with TriggeredBy INTERNAL_ERROR (fail closed).
* Which deployments a revert may undo: only the configuration in effect, and not while another
  deployment runs (BadRequestException), so "the previous version" is well defined.
* ROLLING_BACK lasts one AppConfig second; AWS gives no duration.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import math
import os
import re
import secrets
import string
import threading
import time
import traceback
import uuid
from datetime import datetime, timezone
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs, unquote

import emulator_engine  # the engine thread and its tick
import emulator_route53  # the account and region of a request, found as moto finds them

MINUTE_ENV = "EMULATOR_APPCONFIG_MINUTE"
DEFAULT_MINUTE = 60.0
SIGNING_NAME = "appconfig"  # both `appconfig` and `appconfigdata` sign with it
CREDENTIAL = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/(?P<service>[^/]+)/aws4_request")
PAGE_MAX = 50
ID_ALPHABET = string.ascii_lowercase + string.digits
ALARM_ARN = re.compile(r"arn:aws[a-z-]*:cloudwatch:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):alarm:(?P<name>.+)")
PROFILE_TYPES = ("AWS.Freeform", "AWS.AppConfig.FeatureFlags")
FEATURE_FLAGS = "AWS.AppConfig.FeatureFlags"
ENV_STATES = ("READY_FOR_DEPLOYMENT", "DEPLOYING", "ROLLING_BACK", "ROLLED_BACK", "REVERTED")
IN_PROGRESS = ("VALIDATING", "DEPLOYING", "BAKING")
REVERT_WINDOW_MINUTES = 72 * 60
TOKEN_LIFETIME_MINUTES = 24 * 60
DEFAULT_POLL_SECONDS = 60


class AppConfigError(Exception):
    """An API error: HTTP status, the error code (shape name) and the shape's other members."""

    def __init__(self, status: int, code: str, message: str, **members: Any):
        super().__init__(message)
        self.status, self.code, self.message, self.members = status, code, message, members


def bad_request(message: str, **members: Any) -> AppConfigError:
    return AppConfigError(400, "BadRequestException", message, **members)


def not_found(message: str, **members: Any) -> AppConfigError:
    return AppConfigError(404, "ResourceNotFoundException", message, **members)


def conflict(message: str) -> AppConfigError:
    return AppConfigError(409, "ConflictException", message)


# -- time and formatting -------------------------------------------------------------------


def iso(ts: float | None) -> str | None:
    """A timestamp as AppConfig writes it (ISO 8601, UTC, milliseconds)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}Z"


def _new_id(taken: Iterable[str]) -> str:
    taken = set(taken)
    while True:
        candidate = "".join(secrets.choice(ID_ALPHABET) for _ in range(7))
        if candidate not in taken:
            return candidate


def _partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def _page(items: list, params: dict) -> tuple[list, str | None]:
    """One page of `items` per MaxResults (1..50, default 50) and NextToken (opaque)."""
    size = params.get("MaxResults") or PAGE_MAX
    start = 0
    token = params.get("NextToken")
    if token:
        try:
            start = int(base64.urlsafe_b64decode(token.encode()).decode().removeprefix("page:"))
        except (ValueError, UnicodeDecodeError):
            raise bad_request("The NextToken is not valid.") from None
        if not 0 <= start <= len(items):
            raise bad_request("The NextToken is not valid.")
    end = start + size
    token = base64.urlsafe_b64encode(f"page:{end}".encode()).decode() if end < len(items) else None
    return items[start:end], token


# -- the store -------------------------------------------------------------------------------


class Application:
    def __init__(self, app_id: str, name: str, description: str | None):
        self.id, self.name, self.description = app_id, name, description
        self.profiles: dict[str, Profile] = {}
        self.environments: dict[str, Environment] = {}

    def to_json(self) -> dict:
        return _compact({"Id": self.id, "Name": self.name, "Description": self.description})


class HostedVersion:
    def __init__(self, number: int, content: bytes, content_type: str, description: str | None,
                 label: str | None, kms: str | None):
        self.number, self.content, self.content_type = number, content, content_type
        self.description, self.label, self.kms = description, label, kms


class Profile:
    def __init__(self, profile_id: str, app_id: str, params: dict):
        self.id, self.app_id = profile_id, app_id
        self.name: str = params["Name"]
        self.description: str | None = params.get("Description")
        self.location_uri: str = params["LocationUri"]
        self.retrieval_role_arn: str | None = params.get("RetrievalRoleArn")
        self.validators: list[dict] = params.get("Validators") or []
        self.type: str = params.get("Type") or "AWS.Freeform"
        self.kms: str | None = params.get("KmsKeyIdentifier")
        self.versions: dict[int, HostedVersion] = {}
        self.last_version = 0  # numbers are never reused

    def latest(self) -> HostedVersion | None:
        return self.versions[max(self.versions)] if self.versions else None

    def to_json(self) -> dict:
        return _compact({"ApplicationId": self.app_id, "Id": self.id, "Name": self.name,
                         "Description": self.description, "LocationUri": self.location_uri,
                         "RetrievalRoleArn": self.retrieval_role_arn, "Validators": self.validators,
                         "Type": self.type, "KmsKeyIdentifier": self.kms})

    def summary(self) -> dict:
        return _compact({"ApplicationId": self.app_id, "Id": self.id, "Name": self.name,
                         "LocationUri": self.location_uri,
                         "ValidatorTypes": [v["Type"] for v in self.validators], "Type": self.type})


class Environment:
    def __init__(self, env_id: str, app_id: str, name: str, description: str | None, monitors: list[dict]):
        self.id, self.app_id, self.name, self.description = env_id, app_id, name, description
        self.monitors = monitors
        self.state = "READY_FOR_DEPLOYMENT"
        self.deployments: dict[int, Deployment] = {}

    def active(self) -> "Deployment | None":
        return next((d for d in self.deployments.values() if d.state in IN_PROGRESS + ("ROLLING_BACK",)), None)

    def to_json(self) -> dict:
        return _compact({"ApplicationId": self.app_id, "Id": self.id, "Name": self.name,
                         "Description": self.description, "State": self.state, "Monitors": self.monitors})


class Strategy:
    def __init__(self, strategy_id: str, name: str, description: str | None, duration: int, bake: int,
                 factor: float, growth: str, replicate_to: str, predefined: bool = False):
        self.id, self.name, self.description = strategy_id, name, description
        self.duration, self.bake, self.factor, self.growth = duration, bake, float(factor), growth
        self.replicate_to, self.predefined = replicate_to, predefined

    def to_json(self) -> dict:
        return _compact({"Id": self.id, "Name": self.name, "Description": self.description,
                         "DeploymentDurationInMinutes": self.duration, "GrowthType": self.growth,
                         "GrowthFactor": self.factor, "FinalBakeTimeInMinutes": self.bake,
                         "ReplicateTo": self.replicate_to})


# The predefined strategies ("Using predefined deployment strategies" in the user guide).
PREDEFINED = {s.id: s for s in (
    Strategy("AppConfig.Linear20PercentEvery6Minutes", "AppConfig.Linear20PercentEvery6Minutes",
             "AWS recommended: 20% of all targets every 6 minutes for a 30 minute deployment; "
             "alarms monitored for 30 minutes.", 30, 30, 20.0, "LINEAR", "NONE", True),
    Strategy("AppConfig.Canary10Percent20Minutes", "AppConfig.Canary10Percent20Minutes",
             "AWS recommended: exponential growth with a 10% growth factor over 20 minutes; "
             "alarms monitored for 10 minutes.", 20, 10, 10.0, "EXPONENTIAL", "NONE", True),
    Strategy("AppConfig.AllAtOnce", "AppConfig.AllAtOnce",
             "Quick: all targets at once; alarms monitored for 10 minutes.", 0, 10, 100.0, "LINEAR", "NONE", True),
    Strategy("AppConfig.Linear50PercentEvery30Seconds", "AppConfig.Linear50PercentEvery30Seconds",
             "Testing/demonstration: half of all targets every 30 seconds for a one-minute deployment; "
             "alarms monitored for 1 minute.", 1, 1, 50.0, "LINEAR", "NONE", True),
)}


def growth_steps(growth: str, factor: float) -> list[float]:
    """The percentages a deployment passes through, in order, ending at 100.

    LINEAR: G, 2G, 3G, ... (the last step 100); EXPONENTIAL: G*2^0, G*2^1, G*2^2, ...
    until that reaches 100 (the last step 100)."""
    factor = float(factor)
    if growth == "EXPONENTIAL":
        steps, k = [], 0
        while factor * 2 ** k < 100.0 - 1e-9:
            steps.append(factor * 2 ** k)
            k += 1
        return steps + [100.0]
    count = math.ceil(round(100.0 / factor, 9))
    return [min(100.0, factor * k) for k in range(1, count)] + [100.0]


def schedule(duration: float, growth: str, factor: float) -> list[tuple[float, float]]:
    """[(minutes after the start, percentage)] of a deployment: the N steps of `growth_steps`
    evenly over the duration, step k at k * duration / N; a duration of 0 is 100 at once."""
    steps = growth_steps(growth, factor)
    if duration <= 0:
        return [(0.0, 100.0)]
    n = len(steps)
    return [(duration * k / n, p) for k, p in enumerate(steps, 1)]


class Event:
    def __init__(self, kind: str, by: str, description: str, at: float):
        self.kind, self.by, self.description, self.at = kind, by, description, at

    def to_json(self) -> dict:
        return {"EventType": self.kind, "TriggeredBy": self.by, "Description": self.description,
                "OccurredAt": iso(self.at)}


class Deployment:
    """One deployment of a configuration version to an environment, with what it delivers."""

    def __init__(self, number: int, app: Application, env: Environment, profile: Profile, strategy: Strategy,
                 version: HostedVersion, description: str | None, kms: str | None, now: float):
        self.number, self.app_id, self.env_id = number, app.id, env.id
        self.profile_id, self.profile_name, self.location_uri = profile.id, profile.name, profile.location_uri
        self.profile_type = profile.type
        self.strategy_id = strategy.id
        self.duration, self.bake, self.factor, self.growth = strategy.duration, strategy.bake, strategy.factor, \
            strategy.growth
        self.version_number, self.version_label = version.number, version.label
        self.content, self.content_type = version.content, version.content_type
        self.description, self.kms = description, kms
        self.state = "DEPLOYING"
        self.percentage = 0.0
        self.started = now
        self.completed: float | None = None
        self.bake_started: float | None = None
        self.rollback_started: float | None = None
        self.steps = schedule(self.duration, self.growth, self.factor)
        self.next_step = 0
        self.events = [Event("DEPLOYMENT_STARTED", "USER", "Deployment started", now)]
        # What GetLatestConfiguration hands out (feature flags: the retrieval format).
        self.served, self.served_type, self.served_ion = served_forms(self.profile_type, self.content,
                                                                      self.content_type)

    def to_json(self) -> dict:
        return _compact({
            "ApplicationId": self.app_id, "EnvironmentId": self.env_id, "DeploymentStrategyId": self.strategy_id,
            "ConfigurationProfileId": self.profile_id, "DeploymentNumber": self.number,
            "ConfigurationName": self.profile_name, "ConfigurationLocationUri": self.location_uri,
            "ConfigurationVersion": str(self.version_number), "Description": self.description,
            "DeploymentDurationInMinutes": self.duration, "GrowthType": self.growth, "GrowthFactor": self.factor,
            "FinalBakeTimeInMinutes": self.bake, "State": self.state,
            "EventLog": [e.to_json() for _, e in sorted(enumerate(self.events), key=lambda ie: (ie[1].at, ie[0]),
                                                       reverse=True)],
            "PercentageComplete": self.percentage, "StartedAt": iso(self.started),
            "CompletedAt": iso(self.completed), "AppliedExtensions": [],
            "KmsKeyIdentifier": self.kms, "VersionLabel": self.version_label})

    def summary(self) -> dict:
        return _compact({
            "DeploymentNumber": self.number, "ConfigurationName": self.profile_name,
            "ConfigurationVersion": str(self.version_number), "DeploymentDurationInMinutes": self.duration,
            "GrowthType": self.growth, "GrowthFactor": self.factor, "FinalBakeTimeInMinutes": self.bake,
            "State": self.state, "PercentageComplete": self.percentage, "StartedAt": iso(self.started),
            "CompletedAt": iso(self.completed), "VersionLabel": self.version_label})


class Session:
    """A configuration session of the data plane (StartConfigurationSession)."""

    def __init__(self, session_id: str, key: tuple[str, str], app_id: str, env_id: str, profile_id: str,
                 min_poll: int | None, now: float):
        self.id, self.key = session_id, key
        self.app_id, self.env_id, self.profile_id = app_id, env_id, profile_id
        self.min_poll = min_poll
        self.seq = 0
        self.secret = secrets.token_urlsafe(12)
        self.issued = now
        self.last_poll: float | None = None
        self.last_served: int | None = None  # the deployment number whose content the session holds

    def token(self) -> str:
        raw = f"{self.id}.{self.seq}.{self.secret}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class Region:
    def __init__(self):
        self.applications: dict[str, Application] = {}
        self.strategies: dict[str, Strategy] = {}  # custom ones
        self.tags: dict[str, dict[str, str]] = {}


def _compact(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}


def served_forms(profile_type: str, content: bytes, content_type: str) -> tuple[bytes, str, bytes | None]:
    """(body, its content type, Ion body or None) that GetLatestConfiguration hands out for a
    deployed version. Freeform: the content as stored. Feature flags: the retrieval format of the
    type reference, a JSON object of flag key -> {"enabled": ..., attributes only when enabled}
    (a multi-variant flag as its default variant); and, when the document has a multi-variant
    flag, the Ion form that keeps the variants and rules (see `ion_flags`)."""
    if profile_type != FEATURE_FLAGS:
        return content, content_type, None
    doc = json.loads(content)
    flags, values = doc.get("flags", {}), doc.get("values", {})
    out = {}
    for key in flags:
        value = values.get(key, {})
        variants = value.get("_variants")
        if variants:
            out[key] = _variant_content(variants[-1], with_name=False)
        else:
            out[key] = _basic_content(value)
    ion = ion_flags(doc) if any(values.get(k, {}).get("_variants") for k in flags) else None
    return json.dumps(out).encode(), "application/json", ion


ION_CONTENT_TYPE = "application/ion;type=AWS.AppConfig.FeatureFlags"


def _basic_content(value: dict) -> dict:
    enabled = value.get("enabled") is True
    out: dict = {"enabled": enabled}
    if enabled:
        out.update({k: v for k, v in value.items() if KEY.match(k) and k != "enabled"})
    return out


def _variant_content(variant: dict, with_name: bool = True) -> dict:
    enabled = variant.get("enabled") is True
    out: dict = {"_variant": variant["name"]} if with_name else {}
    out["enabled"] = enabled
    if enabled:
        out.update(variant.get("attributeValues") or {})
    return out


def _ion_long(text: str) -> str:
    return "'''" + text.replace("\\", "\\\\").replace("'", "\\'") + "'''"


def ion_flags(doc: dict) -> bytes:
    """The Ion retrieval format the user guide documents for a configuration with a multi-variant
    flag ("Feature flag samples for AWS AppConfig Agent local development mode"): per flag an
    annotation with the flag key; a basic flag is a long string holding its JSON; a multi-variant
    flag is a list of [rule, JSON] pairs in order, then the default variant's JSON."""
    flags, values = doc.get("flags", {}), doc.get("values", {})
    parts = []
    for key in flags:
        value = values.get(key, {})
        name = "'" + key.replace("\\", "\\\\").replace("'", "\\'") + "'"
        variants = value.get("_variants")
        if not variants:
            parts.append(f"{name}::{_ion_long(json.dumps(_basic_content(value)))}")
            continue
        items = [f"  [\n    {v['rule']},\n    {_ion_long(json.dumps(_variant_content(v)))}\n  ]" for v in variants[:-1]]
        items.append(f"  {_ion_long(json.dumps(_variant_content(variants[-1])))}")
        parts.append(f"{name}::[\n" + ",\n".join(items) + "\n]")
    return ("\n\n".join(parts) + "\n").encode()


# -- the HTTP front --------------------------------------------------------------------------


class Reply:
    """What an operation answers: a JSON object or raw bytes, extra headers, and the status
    (default: the operation's documented response code)."""

    def __init__(self, body: dict | bytes | None = None, headers: Iterable[tuple[str, str]] = (),
                 status: int | None = None):
        self.body, self.headers, self.status = body, list(headers), status


def _routes() -> list[tuple[str, re.Pattern, str, Any]]:
    """(method, path regex, service, operation model) of every operation of `appconfig` and
    `appconfigdata`, from botocore's models (the same models the SDKs are generated from)."""
    import botocore.session

    session = botocore.session.get_session()
    out = []
    for service in ("appconfig", "appconfigdata"):
        model = session.get_service_model(service)
        for name in model.operation_names:
            op = model.operation_model(name)
            pattern = ""
            for part in re.split(r"(\{[^}]+\})", op.http["requestUri"].split("?")[0]):
                if part.startswith("{"):
                    key = part[1:-1]
                    pattern += f"(?P<{key.rstrip('+')}>{'.+' if key.endswith('+') else '[^/]+'})"
                else:
                    pattern += re.escape(part)
            out.append((op.http["method"], re.compile(pattern + "/?"), service, op))
    return out


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _header(environ: dict, name: str) -> str | None:
    if name.lower() == "content-type":
        return environ.get("CONTENT_TYPE") or None
    return environ.get("HTTP_" + name.upper().replace("-", "_"))


def _read_params(op, environ: dict, path_params: dict, raw: bytes) -> dict:
    """The operation's input as the SDK serialized it (rest-json): URI, query string, header and
    body members, converted to their model types, then checked against the model's constraints
    (required members, lengths, patterns, ranges, enums) as AWS checks them."""
    shape = op.input_shape
    if shape is None:
        return {}
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    payload = shape.serialization.get("payload")
    body: dict = {}
    if payload is None and raw.strip():
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise bad_request(f"The request body is not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise bad_request("The request body is not a JSON object.")
    params: dict = {}
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if name == payload:
            value: Any = raw
        elif location == "uri":
            value = unquote(path_params.get(wire) or "") or None
        elif location == "querystring":
            values = query.get(wire)
            value = None if values is None else (values if member.type_name == "list" else values[-1])
        elif location == "header":
            value = _header(environ, wire)
        else:
            value = body.get(name)
        if value is None:
            continue
        if location in ("uri", "querystring", "header") and isinstance(value, str):
            if member.type_name in ("integer", "long"):
                try:
                    value = int(value)
                except ValueError:
                    raise bad_request(f"{name} must be an integer, not {value!r}.") from None
            elif member.type_name == "boolean":
                value = value.strip().lower() == "true"
        params[name] = value
    problems: list[str] = []
    _validate(shape, params, "", problems)
    if problems:
        raise bad_request(f"{len(problems)} validation error(s) detected: " + "; ".join(problems[:5]))
    return params


def _validate(shape, value: Any, path: str, problems: list[str]) -> None:
    meta = shape.metadata
    kind = shape.type_name
    where = path or "the request"
    if kind == "structure":
        if not isinstance(value, dict):
            problems.append(f"{where} must be an object")
            return
        for required in shape.required_members:
            if value.get(required) is None:
                problems.append(f"{(path + '.' if path else '') + required} is required")
        for key, item in value.items():
            if key in shape.members and item is not None:
                _validate(shape.members[key], item, (path + "." if path else "") + key, problems)
    elif kind == "list":
        if not isinstance(value, list):
            problems.append(f"{where} must be a list")
            return
        _bounds(len(value), meta, where, "have at least", "have at most", " items", problems)
        for i, item in enumerate(value):
            _validate(shape.member, item, f"{path}[{i}]", problems)
    elif kind == "map":
        if not isinstance(value, dict):
            problems.append(f"{where} must be a map")
            return
        _bounds(len(value), meta, where, "have at least", "have at most", " entries", problems)
        for key, item in value.items():
            _validate(shape.key, key, f"{path} key", problems)
            _validate(shape.value, item, f"{path}.{key}", problems)
    elif kind == "string":
        if not isinstance(value, str):
            problems.append(f"{where} must be a string")
            return
        _bounds(len(value), meta, where, "be at least", "be at most", " characters long", problems)
        if "enum" in meta and value not in meta["enum"]:
            problems.append(f"{where} must be one of {', '.join(meta['enum'])}")
        if "pattern" in meta and not re.search(meta["pattern"], value):
            problems.append(f"{where} must match the pattern {meta['pattern']}")
    elif kind in ("integer", "long", "float", "double"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                (kind in ("integer", "long") and not float(value).is_integer()):
            problems.append(f"{where} must be {'an integer' if kind in ('integer', 'long') else 'a number'}")
            return
        _bounds(value, meta, where, "be at least", "be at most", "", problems)
    elif kind == "boolean" and not isinstance(value, bool):
        problems.append(f"{where} must be a boolean")


def _bounds(value, meta: dict, where: str, low: str, high: str, unit: str, problems: list[str]) -> None:
    if "min" in meta and value < meta["min"]:
        problems.append(f"{where} must {low} {meta['min']:g}{unit}")
    if "max" in meta and value > meta["max"]:
        problems.append(f"{where} must {high} {meta['max']:g}{unit}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--appconfig-minute", type=float, metavar="SECONDS", default=None,
        help=f"test-only time scale: real seconds per AppConfig minute (default ${MINUTE_ENV} or "
             f"{DEFAULT_MINUTE:g}, as on AWS)")


def wrap(app, args: argparse.Namespace | None = None) -> "AppConfigFront":
    minute = getattr(args, "appconfig_minute", None)
    if minute is None:
        minute = float(os.environ.get(MINUTE_ENV, DEFAULT_MINUTE))
    if minute <= 0:
        raise SystemExit("--appconfig-minute must be greater than 0")
    front = AppConfigFront(app, Engine(minute))
    front.engine.start()
    return front


class AppConfigFront:
    """WSGI middleware: every request signed for `appconfig` (AppConfig and AppConfigData), and
    the test-only `/_appconfig/...` endpoints (see the module docstring)."""

    def __init__(self, app, engine: "Engine"):
        self.app = app
        self.engine = engine
        self.routes = _routes()

    def __call__(self, environ: dict, start_response):
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path.rstrip("/") == "/moto-api/reset" and method == "POST":
            with self.engine.lock:
                self.engine.reset()
            return self.app(environ, start_response)
        if path.startswith("/_appconfig/"):
            return self._test_endpoint(environ, start_response, path, method)
        credential = CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
        if credential is None or credential["service"] != SIGNING_NAME:
            return self.app(environ, start_response)
        try:
            raw_path = (environ.get("RAW_URI") or environ.get("REQUEST_URI") or path).split("?", 1)[0]
            for verb, pattern, service, op in self.routes:
                match = pattern.fullmatch(raw_path)
                if verb == method and match:
                    break
            else:
                raise AppConfigError(400, "UnknownOperationException",
                                     f"No AppConfig operation answers {method} {raw_path}.")
            handler = getattr(self.engine, "op_" + _snake(op.name), None)
            if handler is None:
                raise AppConfigError(400, "UnknownOperationException",
                                     f"The {service} operation {op.name} is not modelled by the emulator.")
            length = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(length) if length else b""
            params = _read_params(op, environ, match.groupdict(), raw)
            account, region = emulator_route53.account_and_region(environ)
            with self.engine.lock:
                self.engine.advance()
                reply = handler(self.engine.region(account, region), params,
                                Call(account, region, environ, self.engine.now()))
            return self._reply(start_response, reply, op.http.get("responseCode", 200))
        except AppConfigError as exc:
            return _error(start_response, exc)
        except Exception as exc:  # a bug here must reach the client in the protocol's shape
            traceback.print_exc()
            return _error(start_response, AppConfigError(500, "InternalServerException", f"emulator: {exc!r}"))

    @staticmethod
    def _reply(start_response, reply: Reply, default_status: int):
        status = reply.status or default_status
        headers = list(reply.headers)
        if isinstance(reply.body, dict):
            data = json.dumps(reply.body).encode()
            headers.append(("Content-Type", "application/json"))
        else:
            data = reply.body or b""
        return _send(start_response, status, data, headers)

    def _test_endpoint(self, environ: dict, start_response, path: str, method: str):
        """`POST /_appconfig/evaluate` with {"document": definition (object) or Ion retrieval
        format (string), "flag": key (optional), "context": {...}}: `evaluate_flag` over HTTP.
        Answers {"enabled", "variant", "attributes"} for one flag, {"flags": {key: the agent's
        JSON}} for all; 400 {"Message"} when the document, flag or a rule is wrong."""
        def answer(status: int, body: dict):
            return _send(start_response, status, json.dumps(body).encode(), [("Content-Type", "application/json")])

        if path.rstrip("/") != "/_appconfig/evaluate" or method != "POST":
            return answer(404, {"Message": f"no test endpoint {method} {path}"})
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            request = json.loads(environ["wsgi.input"].read(length) if length else b"{}")
            document, flag, context = request["document"], request.get("flag"), request.get("context") or {}
            if not isinstance(document, (dict, str)) or not isinstance(context, dict):
                raise ValueError("document is an object or an Ion string, context an object")
            if flag is None:
                return answer(200, {"flags": {k: r.agent_json() for k, r in evaluate_flags(document, context).items()}})
            result = evaluate_flag(document, flag, context)
            return answer(200, {"enabled": result.enabled, "variant": result.variant, "attributes": result.attributes})
        except KeyError as exc:
            return answer(400, {"Message": f"unknown flag or missing field: {exc}"})
        except (ValueError, RuleError, TypeError, AttributeError) as exc:
            return answer(400, {"Message": f"cannot evaluate: {exc}"})


class Call:
    """The request context handlers get: account, region, the WSGI environ and the time."""

    def __init__(self, account: str, region: str, environ: dict, now: float):
        self.account, self.region, self.environ, self.now = account, region, environ, now

    def arn(self, resource: str) -> str:
        return f"arn:{_partition(self.region)}:appconfig:{self.region}:{self.account}:{resource}"


REASONS = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 400: "Bad Request", 402: "Payment Required",
           404: "Not Found", 409: "Conflict", 413: "Payload Too Large", 429: "Too Many Requests",
           500: "Internal Server Error"}


def _send(start_response, status: int, data: bytes, headers: list[tuple[str, str]]):
    headers = [*headers, ("Content-Length", str(len(data))), ("x-amzn-RequestId", str(uuid.uuid4()))]
    start_response(f"{status} {REASONS.get(status, 'Status')}", headers)
    return [data]


def _error(start_response, exc: AppConfigError):
    body = {"Message": exc.message, **{k: v for k, v in exc.members.items() if v is not None}}
    return _send(start_response, exc.status, json.dumps(body).encode(),
                 [("Content-Type", "application/json"), ("x-amzn-ErrorType", exc.code)])


# -- the engine: store, operations, deployment progression -----------------------------------


class Engine:
    def __init__(self, minute: float):
        self.minute = minute
        self.tick = emulator_engine.tick_for(minute)  # one AppConfig second, clamped
        self.lock = threading.RLock()
        self.regions: dict[tuple[str, str], Region] = {}
        self.sessions: dict[str, Session] = {}
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = emulator_engine.run_engine("appconfig-engine", self.tick, self.lock, self.advance)

    def reset(self) -> None:
        self.regions.clear()
        self.sessions.clear()

    def region(self, account: str, region: str) -> Region:
        return self.regions.setdefault((account, region), Region())

    @staticmethod
    def now() -> float:
        return time.time()

    def minutes(self, seconds: float) -> float:
        """Real seconds as AppConfig minutes."""
        return seconds / self.minute

    def advance(self) -> None:
        """Bring every deployment up to now (see "Deployments" in the module docstring): its
        schedule first, then, if it is still deploying or baking, its environment's alarms."""
        now = self.now()
        for (account, region_name), region in list(self.regions.items()):
            for app in list(region.applications.values()):
                for env in list(app.environments.values()):
                    for d in list(env.deployments.values()):
                        if d.state in IN_PROGRESS + ("ROLLING_BACK",):
                            self._progress(env, d, now)
                            if d.state in IN_PROGRESS:
                                alarm = self._alarm(env)
                                if alarm is not None:
                                    self._roll_back(env, d, *alarm, now)

    def _progress(self, env: Environment, d: Deployment, now: float) -> None:
        if d.state in ("VALIDATING", "DEPLOYING"):
            elapsed = self.minutes(now - d.started)
            while d.next_step < len(d.steps) and d.steps[d.next_step][0] <= elapsed + 1e-9:
                at, percentage = d.steps[d.next_step]
                d.percentage = percentage
                d.events.append(Event("PERCENTAGE_UPDATED", "APPCONFIG",
                                      f"Configuration available to {percentage:.2f}% of clients",
                                      d.started + at * self.minute))
                d.next_step += 1
            if d.next_step >= len(d.steps) and elapsed + 1e-9 >= d.duration:
                d.state = "BAKING"
                d.bake_started = d.started + d.duration * self.minute
                d.events.append(Event("BAKE_TIME_STARTED", "APPCONFIG", "Deployment bake time started",
                                      d.bake_started))
        if d.state == "BAKING":
            end = d.bake_started + d.bake * self.minute
            if now >= end:
                d.state, d.completed = "COMPLETE", end
                d.events.append(Event("DEPLOYMENT_COMPLETED", "APPCONFIG", "Deployment completed", end))
                env.state = "READY_FOR_DEPLOYMENT"
        if d.state == "ROLLING_BACK" and now >= d.rollback_started + self.tick:
            d.state, d.completed = "ROLLED_BACK", now
            d.events.append(Event("ROLLBACK_COMPLETED", "APPCONFIG",
                                  "Rollback completed: clients receive the previous configuration", now))
            env.state = "ROLLED_BACK"

    @staticmethod
    def _alarm(env: Environment) -> tuple[str, str] | None:
        """(TriggeredBy, description) when one of the environment's monitors calls for a rollback:
        its alarm is in ALARM or INSUFFICIENT_DATA (read from moto's CloudWatch backend, the data
        DescribeAlarms answers from) with actions enabled, or it cannot be read at all."""
        from moto.cloudwatch.models import cloudwatch_backends

        for monitor in env.monitors:
            arn = monitor["AlarmArn"]
            m = ALARM_ARN.fullmatch(arn)
            try:
                alarm = cloudwatch_backends[m["account"]][m["region"]].alarms.get(m["name"])
            except (KeyError, TypeError):
                alarm = None
            if alarm is None:
                return ("INTERNAL_ERROR", f"Rollback initiated: the CloudWatch alarm {arn} could not be read "
                                          "(it does not exist)")
            if alarm.actions_enabled and alarm.state_value in ("ALARM", "INSUFFICIENT_DATA"):
                return ("CLOUDWATCH_ALARM", f"Rollback initiated by CloudWatch alarm {arn} "
                                            f"(state {alarm.state_value})")
        return None

    @staticmethod
    def _roll_back(env: Environment, d: Deployment, by: str, description: str, now: float) -> None:
        d.state, d.rollback_started = "ROLLING_BACK", now
        d.events.append(Event("ROLLBACK_STARTED", by, description, now))
        env.state = "ROLLING_BACK"

    # -- deployments ----------------------------------------------------------------------------

    def op_start_deployment(self, region, p, call):
        app, env = self._env(region, p["ApplicationId"], p["EnvironmentId"])
        _, profile = self._profile(region, app.id, p["ConfigurationProfileId"])
        strategy = self._strategy(region, p["DeploymentStrategyId"])
        if profile.location_uri != "hosted":
            raise bad_request(f"Configuration profile {profile.id} is not in the hosted configuration store; "
                              "the emulator deploys hosted configuration versions only.")
        wanted = p["ConfigurationVersion"]
        version = next((v for v in profile.versions.values() if str(v.number) == wanted or v.label == wanted), None)
        if version is None:
            raise not_found(f"Configuration profile {profile.id} has no version {wanted!r} (a version number or "
                            "label).", ResourceName=wanted)
        latest = max(env.deployments, default=None)
        if "LatestDeploymentNumber" in p and p["LatestDeploymentNumber"] != latest:
            raise conflict(f"LatestDeploymentNumber is {p['LatestDeploymentNumber']}, but the latest deployment "
                           f"to environment {env.id} is {latest if latest is not None else 'none'}.")
        active = env.active()
        if active is not None:
            raise conflict(f"Deployment {active.number} to environment {env.id} is in progress ({active.state}); "
                           "an environment takes one deployment at a time.")
        d = Deployment((latest or 0) + 1, app, env, profile, strategy, version, p.get("Description"),
                       p.get("KmsKeyIdentifier"), call.now)
        env.deployments[d.number] = d
        env.state = "DEPLOYING"
        self._tag(region, call.arn(f"application/{app.id}/environment/{env.id}/deployment/{d.number}"),
                  p.get("Tags"))
        self._progress(env, d, call.now)
        return Reply(d.to_json())

    def op_get_deployment(self, region, p, call):
        return Reply(self._deployment(region, p["ApplicationId"], p["EnvironmentId"], p["DeploymentNumber"]).to_json())

    def op_list_deployments(self, region, p, call):
        _, env = self._env(region, p["ApplicationId"], p["EnvironmentId"])
        deployments = sorted(env.deployments.values(), key=lambda d: d.number, reverse=True)
        items, token = _page([d.summary() for d in deployments], p)
        return Reply(_compact({"Items": items, "NextToken": token}))

    def op_stop_deployment(self, region, p, call):
        _, env = self._env(region, p["ApplicationId"], p["EnvironmentId"])
        d = self._deployment(region, p["ApplicationId"], p["EnvironmentId"], p["DeploymentNumber"])
        if d.state == "DEPLOYING" or (d.state in IN_PROGRESS and p.get("AllowRevert")):
            self._roll_back(env, d, "USER", "Rollback initiated by the user (StopDeployment)", call.now)
            return Reply(d.to_json())
        if d.state in IN_PROGRESS:
            raise bad_request(f"Deployment {d.number} is {d.state}; without AllowRevert only a DEPLOYING deployment "
                              "can be stopped.")
        if d.state != "COMPLETE":
            raise bad_request(f"Deployment {d.number} is {d.state}; only a deployment in progress can be stopped "
                              "(or a complete one reverted with AllowRevert).")
        if not p.get("AllowRevert"):
            raise bad_request(f"Deployment {d.number} is complete; to go back to the previous configuration, "
                              "stop it with AllowRevert.")
        if self.minutes(call.now - d.completed) > REVERT_WINDOW_MINUTES:
            raise bad_request(f"Deployment {d.number} completed more than 72 hours ago and can no longer be "
                              "reverted; start a new deployment instead.")
        later = [x for x in env.deployments.values() if x.number > d.number and x.profile_id == d.profile_id
                 and x.state == "COMPLETE"]
        if later:
            raise bad_request(f"Deployment {d.number} is no longer the configuration in effect (deployment "
                              f"{later[0].number} of the same configuration profile completed after it).")
        active = env.active()
        if active is not None:
            raise bad_request(f"Deployment {active.number} to environment {env.id} is in progress; a revert has "
                              "to wait for it.")
        d.state = "REVERTED"
        d.events.append(Event("REVERT_COMPLETED", "USER", "Reverted by the user (StopDeployment with AllowRevert): "
                              "clients receive the previous configuration", call.now))
        env.state = "REVERTED"
        return Reply(d.to_json())

    # -- applications ---------------------------------------------------------------------------

    @staticmethod
    def _app(region: Region, app_id: str) -> Application:
        app = region.applications.get(app_id)
        if app is None:
            raise not_found(f"Application {app_id} does not exist.", ResourceName=app_id)
        return app

    def op_create_application(self, region: Region, p: dict, call: Call) -> Reply:
        app = Application(_new_id(region.applications), p["Name"], p.get("Description"))
        region.applications[app.id] = app
        self._tag(region, call.arn(f"application/{app.id}"), p.get("Tags"))
        return Reply(app.to_json())

    def op_get_application(self, region, p, call):
        return Reply(self._app(region, p["ApplicationId"]).to_json())

    def op_list_applications(self, region, p, call):
        items, token = _page([a.to_json() for a in region.applications.values()], p)
        return Reply(_compact({"Items": items, "NextToken": token}))

    def op_update_application(self, region, p, call):
        app = self._app(region, p["ApplicationId"])
        if "Name" in p:
            app.name = p["Name"]
        if "Description" in p:
            app.description = p["Description"]
        return Reply(app.to_json())

    def op_delete_application(self, region, p, call):
        app = self._app(region, p["ApplicationId"])
        del region.applications[app.id]
        prefix = call.arn(f"application/{app.id}")
        for arn in [a for a in region.tags if a == prefix or a.startswith(prefix + "/")]:
            del region.tags[arn]
        return Reply()

    # -- configuration profiles -------------------------------------------------------------------

    def _profile(self, region: Region, app_id: str, profile_id: str) -> tuple[Application, Profile]:
        app = self._app(region, app_id)
        profile = app.profiles.get(profile_id)
        if profile is None:
            raise not_found(f"Configuration profile {profile_id} does not exist in application {app_id}.",
                            ResourceName=profile_id)
        return app, profile

    def op_create_configuration_profile(self, region, p, call):
        app = self._app(region, p["ApplicationId"])
        kind = p.get("Type") or "AWS.Freeform"
        if kind not in PROFILE_TYPES:
            raise bad_request(f"Type must be one of {', '.join(PROFILE_TYPES)}, not {kind!r}.")
        location = p["LocationUri"]
        if kind == FEATURE_FLAGS and location != "hosted":
            raise bad_request("A feature flag configuration profile must use the hosted configuration store "
                              "(LocationUri \"hosted\").")
        _check_validators(p.get("Validators"))
        profile = Profile(_new_id(app.profiles), app.id, p)
        app.profiles[profile.id] = profile
        self._tag(region, call.arn(f"application/{app.id}/configurationprofile/{profile.id}"), p.get("Tags"))
        return Reply(profile.to_json())

    def op_get_configuration_profile(self, region, p, call):
        return Reply(self._profile(region, p["ApplicationId"], p["ConfigurationProfileId"])[1].to_json())

    def op_list_configuration_profiles(self, region, p, call):
        app = self._app(region, p["ApplicationId"])
        profiles = [x for x in app.profiles.values() if p.get("Type") in (None, x.type)]
        items, token = _page([x.summary() for x in profiles], p)
        return Reply(_compact({"Items": items, "NextToken": token}))

    def op_update_configuration_profile(self, region, p, call):
        _, profile = self._profile(region, p["ApplicationId"], p["ConfigurationProfileId"])
        if "Validators" in p:
            _check_validators(p["Validators"])
        for field, attr in (("Name", "name"), ("Description", "description"),
                            ("RetrievalRoleArn", "retrieval_role_arn"), ("Validators", "validators"),
                            ("KmsKeyIdentifier", "kms")):
            if field in p:
                setattr(profile, attr, p[field])
        return Reply(profile.to_json())

    def op_delete_configuration_profile(self, region, p, call):
        app, profile = self._profile(region, p["ApplicationId"], p["ConfigurationProfileId"])
        for env in app.environments.values():
            active = env.active()
            if active is not None and active.profile_id == profile.id:
                raise conflict(f"Deployment {active.number} of configuration profile {profile.id} to environment "
                               f"{env.id} is in progress.")
        del app.profiles[profile.id]
        region.tags.pop(call.arn(f"application/{app.id}/configurationprofile/{profile.id}"), None)
        return Reply()

    # -- environments ---------------------------------------------------------------------------

    def _env(self, region: Region, app_id: str, env_id: str) -> tuple[Application, Environment]:
        app = self._app(region, app_id)
        env = app.environments.get(env_id)
        if env is None:
            raise not_found(f"Environment {env_id} does not exist in application {app_id}.", ResourceName=env_id)
        return app, env

    def op_create_environment(self, region, p, call):
        app = self._app(region, p["ApplicationId"])
        env = Environment(_new_id(app.environments), app.id, p["Name"], p.get("Description"),
                          _check_monitors(p.get("Monitors")))
        app.environments[env.id] = env
        self._tag(region, call.arn(f"application/{app.id}/environment/{env.id}"), p.get("Tags"))
        return Reply(env.to_json())

    def op_get_environment(self, region, p, call):
        return Reply(self._env(region, p["ApplicationId"], p["EnvironmentId"])[1].to_json())

    def op_list_environments(self, region, p, call):
        app = self._app(region, p["ApplicationId"])
        items, token = _page([e.to_json() for e in app.environments.values()], p)
        return Reply(_compact({"Items": items, "NextToken": token}))

    def op_update_environment(self, region, p, call):
        _, env = self._env(region, p["ApplicationId"], p["EnvironmentId"])
        if "Monitors" in p:
            env.monitors = _check_monitors(p["Monitors"])
        if "Name" in p:
            env.name = p["Name"]
        if "Description" in p:
            env.description = p["Description"]
        return Reply(env.to_json())

    def op_delete_environment(self, region, p, call):
        app, env = self._env(region, p["ApplicationId"], p["EnvironmentId"])
        active = env.active()
        if active is not None:
            raise conflict(f"Deployment {active.number} to environment {env.id} is in progress "
                           f"({active.state}); stop it or let it finish first.")
        del app.environments[env.id]
        prefix = call.arn(f"application/{app.id}/environment/{env.id}")
        for arn in [a for a in region.tags if a == prefix or a.startswith(prefix + "/")]:
            del region.tags[arn]
        return Reply()

    # -- deployment strategies ------------------------------------------------------------------

    @staticmethod
    def _strategy(region: Region, strategy_id: str) -> Strategy:
        strategy = PREDEFINED.get(strategy_id) or region.strategies.get(strategy_id)
        if strategy is None:
            raise not_found(f"Deployment strategy {strategy_id} does not exist.", ResourceName=strategy_id)
        return strategy

    def op_create_deployment_strategy(self, region, p, call):
        strategy = Strategy(_new_id(region.strategies), p["Name"], p.get("Description"),
                            p["DeploymentDurationInMinutes"], p.get("FinalBakeTimeInMinutes", 0), p["GrowthFactor"],
                            p.get("GrowthType", "LINEAR"), p.get("ReplicateTo", "NONE"))
        region.strategies[strategy.id] = strategy
        self._tag(region, call.arn(f"deploymentstrategy/{strategy.id}"), p.get("Tags"))
        return Reply(strategy.to_json())

    def op_get_deployment_strategy(self, region, p, call):
        return Reply(self._strategy(region, p["DeploymentStrategyId"]).to_json())

    def op_list_deployment_strategies(self, region, p, call):
        strategies = [*PREDEFINED.values(), *region.strategies.values()]
        items, token = _page([s.to_json() for s in strategies], p)
        return Reply(_compact({"Items": items, "NextToken": token}))

    def op_update_deployment_strategy(self, region, p, call):
        strategy = self._strategy(region, p["DeploymentStrategyId"])
        if strategy.predefined:
            raise bad_request(f"{strategy.id} is a predefined deployment strategy and cannot be changed.")
        for field, attr in (("Description", "description"), ("DeploymentDurationInMinutes", "duration"),
                            ("FinalBakeTimeInMinutes", "bake"), ("GrowthType", "growth")):
            if field in p:
                setattr(strategy, attr, p[field])
        if "GrowthFactor" in p:
            strategy.factor = float(p["GrowthFactor"])
        return Reply(strategy.to_json())

    def op_delete_deployment_strategy(self, region, p, call):
        strategy = self._strategy(region, p["DeploymentStrategyId"])
        if strategy.predefined:
            raise bad_request(f"{strategy.id} is a predefined deployment strategy and cannot be deleted.")
        del region.strategies[strategy.id]
        region.tags.pop(call.arn(f"deploymentstrategy/{strategy.id}"), None)
        return Reply()

    # -- hosted configuration versions ------------------------------------------------------------

    def _hosted(self, region: Region, p: dict) -> tuple[Application, Profile]:
        app, profile = self._profile(region, p["ApplicationId"], p["ConfigurationProfileId"])
        if profile.location_uri != "hosted":
            raise bad_request(f"Configuration profile {profile.id} does not use the hosted configuration store "
                              f"(its LocationUri is {profile.location_uri!r}).")
        return app, profile

    @staticmethod
    def _version_reply(profile: Profile, v: HostedVersion) -> Reply:
        headers = [("Application-Id", profile.app_id), ("Configuration-Profile-Id", profile.id),
                   ("Version-Number", str(v.number)), ("Content-Type", v.content_type)]
        if v.description is not None:
            headers.append(("Description", v.description))
        if v.label is not None:
            headers.append(("VersionLabel", v.label))
        return Reply(v.content, headers)

    def op_create_hosted_configuration_version(self, region, p, call):
        _, profile = self._hosted(region, p)
        latest = profile.latest()
        if "LatestVersionNumber" in p and p["LatestVersionNumber"] != (latest.number if latest else None):
            raise conflict(f"LatestVersionNumber is {p['LatestVersionNumber']}, but the latest version of "
                           f"configuration profile {profile.id} is "
                           f"{latest.number if latest else 'none (it has no versions)'}.")
        label = p.get("VersionLabel")
        if label is not None and any(v.label == label for v in profile.versions.values()):
            raise conflict(f"Configuration profile {profile.id} already has a version labelled {label!r}.")
        content, content_type = p["Content"], p["ContentType"]
        if profile.type == FEATURE_FLAGS:
            if content_type.split(";")[0].strip().lower() != "application/json":
                raise bad_request(f"Feature flag configurations are JSON: ContentType must be application/json, "
                                  f"not {content_type!r}.")
            _, problems = validate_feature_flags(content)
            if problems:
                raise bad_request(
                    f"The feature flag configuration is not valid ({len(problems)} problem(s)); first: "
                    f"{problems[0]['Location']}: {problems[0]['Reason']}.",
                    Reason="InvalidConfiguration", Details={"InvalidConfiguration": problems})
        profile.last_version += 1
        version = HostedVersion(profile.last_version, content, content_type, p.get("Description"), label,
                                profile.kms)
        profile.versions[version.number] = version
        return self._version_reply(profile, version)

    def _version(self, region: Region, p: dict) -> tuple[Profile, HostedVersion]:
        _, profile = self._hosted(region, p)
        version = profile.versions.get(p["VersionNumber"])
        if version is None:
            raise not_found(f"Configuration profile {profile.id} has no version {p['VersionNumber']}.",
                            ResourceName=str(p["VersionNumber"]))
        return profile, version

    def op_get_hosted_configuration_version(self, region, p, call):
        return self._version_reply(*self._version(region, p))

    def op_list_hosted_configuration_versions(self, region, p, call):
        _, profile = self._hosted(region, p)
        label = p.get("VersionLabel")
        versions = sorted(profile.versions.values(), key=lambda v: v.number, reverse=True)
        if label is not None:
            prefix = label[:-1] if label.endswith("*") else None
            versions = [v for v in versions if v.label is not None
                        and (v.label.startswith(prefix) if prefix is not None else v.label == label)]
        items, token = _page([_compact({"ApplicationId": profile.app_id, "ConfigurationProfileId": profile.id,
                                        "VersionNumber": v.number, "Description": v.description,
                                        "ContentType": v.content_type, "VersionLabel": v.label})
                              for v in versions], p)
        return Reply(_compact({"Items": items, "NextToken": token}))

    def op_delete_hosted_configuration_version(self, region, p, call):
        profile, version = self._version(region, p)
        del profile.versions[version.number]
        return Reply()

    # -- the data plane (AppConfigData) ------------------------------------------------------------

    @staticmethod
    def _find(items: dict, identifier: str):
        """By id, else the first (oldest) one with that name."""
        return items.get(identifier) or next((x for x in items.values() if x.name == identifier), None)

    def op_start_configuration_session(self, region, p, call):
        app = self._find(region.applications, p["ApplicationIdentifier"])
        if app is None:
            raise not_found(f"Application {p['ApplicationIdentifier']!r} does not exist.", ResourceType="Application")
        env = self._find(app.environments, p["EnvironmentIdentifier"])
        if env is None:
            raise not_found(f"Environment {p['EnvironmentIdentifier']!r} does not exist in application {app.id}.",
                            ResourceType="Environment")
        profile = self._find(app.profiles, p["ConfigurationProfileIdentifier"])
        if profile is None:
            raise not_found(f"Configuration profile {p['ConfigurationProfileIdentifier']!r} does not exist in "
                            f"application {app.id}.", ResourceType="ConfigurationProfile")
        session = Session(uuid.uuid4().hex, (call.account, call.region), app.id, env.id, profile.id,
                          p.get("RequiredMinimumPollIntervalInSeconds"), call.now)
        self.sessions[session.id] = session
        return Reply({"InitialConfigurationToken": session.token()})

    @staticmethod
    def _token_error(problem: str, message: str) -> AppConfigError:
        return bad_request(message, Reason="InvalidParameters",
                           Details={"InvalidParameters": {"ConfigurationToken": {"Problem": problem}}})

    def _session(self, token: str, call: Call) -> Session:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            session_id, seq, secret = raw.split(".", 2)
            seq_number = int(seq)
        except (ValueError, UnicodeDecodeError):
            raise self._token_error("Corrupted", "The configuration token is not valid.") from None
        session = self.sessions.get(session_id)
        if session is None or session.key != (call.account, call.region) or secret != session.secret \
                or seq_number > session.seq:
            raise self._token_error("Corrupted", "The configuration token is not valid.")
        if seq_number < session.seq:
            raise self._token_error("Expired", "The configuration token was already used: each token is valid "
                                               "for one GetLatestConfiguration call; use the NextPollConfigurationToken "
                                               "of that call's answer.")
        if self.minutes(call.now - session.issued) > TOKEN_LIFETIME_MINUTES:
            raise self._token_error("Expired", "The configuration token is more than 24 hours old; start a new "
                                               "configuration session.")
        return session

    def served_deployment(self, env: Environment, profile_id: str, session_id: str) -> Deployment | None:
        """The deployment whose version a session of (env, profile) receives now: the one in progress
        if the session falls within its PercentageComplete (a fixed draw per session and deployment,
        so the assignment is sticky and the share of sessions on it follows the percentage), else
        the latest COMPLETE one (the previous version after a rollback or a revert), else none."""
        deployments = [d for d in env.deployments.values() if d.profile_id == profile_id]
        active = next((d for d in deployments if d.state in IN_PROGRESS), None)
        if active is not None and session_bucket(session_id, env.id, active.number) < active.percentage:
            return active
        return max((d for d in deployments if d.state == "COMPLETE"), key=lambda d: d.number, default=None)

    def op_get_latest_configuration(self, region, p, call):
        session = self._session(p["ConfigurationToken"], call)
        if session.min_poll is not None and session.last_poll is not None \
                and call.now - session.last_poll < session.min_poll * self.minute / 60.0:
            raise self._token_error("PollIntervalNotSatisfied",
                                    f"This session polls at most every {session.min_poll} seconds "
                                    "(RequiredMinimumPollIntervalInSeconds); call again later with the same token.")
        app = region.applications.get(session.app_id)
        env = app and app.environments.get(session.env_id)
        profile = app and app.profiles.get(session.profile_id)
        for missing, kind in ((app, "Application"), (env, "Environment"), (profile, "ConfigurationProfile")):
            if missing is None:
                raise not_found(f"The session's {kind} no longer exists.", ResourceType=kind)
        d = self.served_deployment(env, profile.id, session.id)
        headers = []
        body = b""
        if d is not None:
            ion = d.served_ion is not None and "application/ion" in (call.environ.get("HTTP_ACCEPT") or "").lower()
            headers.append(("Content-Type", ION_CONTENT_TYPE if ion else d.served_type))
            if d.number != session.last_served:
                body = d.served_ion if ion else d.served
                if d.version_label is not None:
                    headers.append(("Version-Label", d.version_label))
            session.last_served = d.number
        session.seq += 1
        session.issued = session.last_poll = call.now
        headers += [("Next-Poll-Configuration-Token", session.token()),
                    ("Next-Poll-Interval-In-Seconds", str(session.min_poll or DEFAULT_POLL_SECONDS))]
        return Reply(body, headers)

    # -- tags --------------------------------------------------------------------------------------

    @staticmethod
    def _tag(region: Region, arn: str, tags: dict | None) -> None:
        current = region.tags.setdefault(arn, {})
        current.update(tags or {})
        if len(current) > 50:
            raise bad_request("A resource can have at most 50 tags.")

    def _resource(self, region: Region, arn: str, call: Call) -> str:
        """Check that `arn` names an existing AppConfig resource of this account and region."""
        m = re.fullmatch(r"arn:aws[a-z-]*:appconfig:(?P<region>[^:]+):(?P<account>\d{12}):(?P<resource>.+)", arn)
        if m is None or (m["region"], m["account"]) != (call.region, call.account):
            raise bad_request(f"{arn} is not the ARN of an AppConfig resource of this account and region.")
        parts = m["resource"].split("/")
        try:
            if parts[0] == "deploymentstrategy" and len(parts) == 2:
                self._strategy(region, parts[1])
            elif parts[0] == "application" and len(parts) == 2:
                self._app(region, parts[1])
            elif parts[0] == "application" and len(parts) == 4 and parts[2] == "configurationprofile":
                self._profile(region, parts[1], parts[3])
            elif parts[0] == "application" and len(parts) == 4 and parts[2] == "environment":
                self._env(region, parts[1], parts[3])
            elif parts[0] == "application" and len(parts) == 6 and parts[2] == "environment" \
                    and parts[4] == "deployment":
                self._deployment(region, parts[1], parts[3], int(parts[5]))
            else:
                raise bad_request(f"{arn} is not the ARN of a taggable AppConfig resource.")
        except ValueError:
            raise bad_request(f"{arn} is not the ARN of a taggable AppConfig resource.") from None
        except AppConfigError as exc:
            if exc.status == 404:
                raise not_found(f"The resource {arn} does not exist.", ResourceName=arn) from None
            raise
        return arn

    def op_list_tags_for_resource(self, region, p, call):
        arn = self._resource(region, p["ResourceArn"], call)
        return Reply({"Tags": dict(region.tags.get(arn, {}))})

    def op_tag_resource(self, region, p, call):
        self._tag(region, self._resource(region, p["ResourceArn"], call), p["Tags"])
        return Reply()

    def op_untag_resource(self, region, p, call):
        arn = self._resource(region, p["ResourceArn"], call)
        for key in p["TagKeys"]:
            region.tags.get(arn, {}).pop(key, None)
        return Reply()

    def _deployment(self, region: Region, app_id: str, env_id: str, number: int) -> Deployment:
        _, env = self._env(region, app_id, env_id)
        d = env.deployments.get(number)
        if d is None:
            raise not_found(f"Deployment {number} does not exist in environment {env_id}.", ResourceName=str(number))
        return d


def _check_monitors(monitors: list[dict] | None) -> list[dict]:
    out = []
    for m in monitors or []:
        if not ALARM_ARN.fullmatch(m["AlarmArn"]):
            raise bad_request(f"AlarmArn {m['AlarmArn']!r} is not the ARN of a CloudWatch alarm "
                              "(arn:aws:cloudwatch:<region>:<account>:alarm:<name>).")
        out.append(_compact({"AlarmArn": m["AlarmArn"], "AlarmRoleArn": m.get("AlarmRoleArn")}))
    return out


def _check_validators(validators: list[dict] | None) -> None:
    for v in validators or []:
        if v["Type"] == "JSON_SCHEMA":
            try:
                json.loads(v["Content"])
            except ValueError:
                raise bad_request("The content of a JSON_SCHEMA validator must be a JSON schema document.") from None
        elif not v["Content"].startswith("arn:"):
            raise bad_request("The content of a LAMBDA validator must be the ARN of a Lambda function.")


# -- multi-variant flag rules (the rule language of "Defining rules for multi-variant feature flags") --


class RuleError(ValueError):
    """A rule (or an Ion retrieval document) that does not parse."""


MISSING = object()  # a context key the caller did not provide

_TOKEN = re.compile(r"""
    (?P<ws>[\s,]+)
  | (?P<long>'''(?:[^'\\]|\\.|'(?!''))*''')
  | (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<qsym>'(?:[^'\\]|\\.)*')
  | (?P<open>[(\[])
  | (?P<close>[)\]])
  | (?P<ann>::)
  | (?P<ts>\d{4}-\d{2}(?:-\d{2})?(?:T(?:\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2}))?)?(?![\w.:-])|\d{4}T)
  | (?P<num>[+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?(?![\w.]))
  | (?P<ctx>\$[A-Za-z_][A-Za-z0-9_]*)
  | (?P<sym>[A-Za-z_][A-Za-z0-9_]*)
""", re.X)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "0": "\0", "v": "\v", "a": "\a",
            "\\": "\\", "'": "'", '"': '"', "/": "/", "?": "?"}


def _unescape(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        nxt = text[i + 1:i + 2]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt in ("u", "x", "U"):
            width = {"x": 2, "u": 4, "U": 8}[nxt]
            digits = text[i + 2:i + 2 + width]
            if len(digits) != width or not all(d in string.hexdigits for d in digits):
                raise RuleError(f"bad escape \\{nxt}{digits}")
            out.append(chr(int(digits, 16)))
            i += 2 + width
        elif nxt == "\n":
            i += 2
        else:
            raise RuleError(f"bad escape \\{nxt}")
    return "".join(out)


def _parse_ts(text: str) -> datetime | None:
    """An Ion/W3C timestamp (2024, 2024-01, 2024-01-02, 2024-01-02T10:00Z, ...T10:00:00.5-08:00);
    missing parts are their start, no offset is UTC."""
    m = re.fullmatch(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?T?(?:(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?"
                     r"(Z|[+-]\d{2}:\d{2})?)?", text.strip())
    if m is None:
        return None
    year, month, day, hour, minute, sec, frac, offset = m.groups()
    try:
        tz = timezone.utc
        if offset and offset != "Z":
            sign = 1 if offset[0] == "+" else -1
            from datetime import timedelta
            tz = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
        return datetime(int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0),
                        int(sec or 0), int(float(frac or 0) * 1_000_000), tzinfo=tz)
    except ValueError:
        return None


def _parse_ion(text: str) -> list:
    """Values of the Ion subset rules and the retrieval format use: s-expressions `( )`, lists
    `[ ]`, strings `"..."`, long strings `'''...'''` (adjacent ones joined), quoted symbols
    `'...'`, numbers, timestamps, `true`/`false`/`null`, context values `$key` and annotations
    `name::value`. Nodes are tuples: ("sexp"|"list", items), ("str"|"num"|"ts"|"bool"|"ctx"|
    "sym", value), ("null", None), ("ann", name, node)."""
    tokens, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise RuleError(f"unexpected {text[pos:pos + 12]!r} at offset {pos}")
        pos = m.end()
        if m.lastgroup != "ws":
            tokens.append((m.lastgroup, m.group()))
    i = 0

    def value():
        nonlocal i
        if i >= len(tokens):
            raise RuleError("unexpected end of the expression")
        kind, tok = tokens[i]
        i += 1
        if kind in ("sym", "qsym") and i < len(tokens) and tokens[i][0] == "ann":
            i += 1
            name = tok if kind == "sym" else _unescape(tok[1:-1])
            return ("ann", name, value())
        if kind == "open":
            closing = ")" if tok == "(" else "]"
            items = []
            while True:
                if i >= len(tokens):
                    raise RuleError(f"missing {closing!r}")
                if tokens[i][0] == "close":
                    if tokens[i][1] != closing:
                        raise RuleError(f"{tokens[i][1]!r} where {closing!r} was expected")
                    i += 1
                    return ("sexp" if tok == "(" else "list", items)
                items.append(value())
        if kind == "close":
            raise RuleError(f"unexpected {tok!r}")
        if kind == "ann":
            raise RuleError("'::' without an annotation name before it")
        if kind == "str":
            return ("str", _unescape(tok[1:-1]))
        if kind == "long":
            parts = [_unescape(tok[3:-3])]
            while i < len(tokens) and tokens[i][0] == "long":
                parts.append(_unescape(tokens[i][1][3:-3]))
                i += 1
            return ("str", "".join(parts))
        if kind == "qsym":
            return ("sym", _unescape(tok[1:-1]))
        if kind == "num":
            number = float(tok) if re.search(r"[.eE]", tok) else int(tok)
            return ("num", number)
        if kind == "ts":
            stamp = _parse_ts(tok)
            if stamp is None:
                raise RuleError(f"{tok!r} is not a valid timestamp")
            return ("ts", stamp)
        if kind == "ctx":
            return ("ctx", tok[1:])
        if tok in ("true", "false"):
            return ("bool", tok == "true")
        if tok == "null":
            return ("null", None)
        return ("sym", tok)

    out = []
    while i < len(tokens):
        out.append(value())
    return out


COMPARISONS = ("eq", "gt", "gte", "lt", "lte")
STRING_OPS = ("begins_with", "ends_with", "contains")
OPERATORS = COMPARISONS + ("and", "or", "not") + STRING_OPS + ("in", "matches", "exists", "split")


def compile_rule(text: str):
    """A variant rule's expression, checked: one s-expression whose operator is one of OPERATORS
    with the operands it takes. Raises RuleError."""
    if not isinstance(text, str) or not text.strip():
        raise RuleError("the rule is empty")
    values = _parse_ion(text)
    if len(values) != 1 or values[0][0] != "sexp":
        raise RuleError("a rule is exactly one expression in parentheses, e.g. (eq $country \"DE\")")
    return _compile(values[0])


def _compile(node):
    kind = node[0]
    if kind == "sexp":
        items = node[1]
        if not items or items[0][0] != "sym":
            raise RuleError("an expression starts with its operator, e.g. (eq $a 1)")
        op = items[0][1]
        if op not in OPERATORS:
            raise RuleError(f"unknown operator {op!r} (known: {', '.join(OPERATORS)})")
        args, named = [], {}
        for item in items[1:]:
            if item[0] == "ann":
                named[item[1]] = _compile(item[2])
            else:
                args.append(_compile(item))
        _check_arity(op, args, named)
        return ("op", op, args, named)
    if kind == "list":
        return ("list", [_compile(x) for x in node[1]])
    if kind == "ctx":
        return ("ctx", node[1])
    if kind in ("str", "num", "ts", "bool", "null"):
        return ("lit", node[1])
    if kind == "ann":
        raise RuleError(f"the named operand {node[1]}:: is not taken here")
    raise RuleError(f"unexpected symbol {node[1]!r} (strings are written in double quotes)")


def _check_arity(op: str, args: list, named: dict) -> None:
    def need(names: set, optional: set = frozenset()):
        if args:
            raise RuleError(f"{op} takes only named operands ({', '.join(sorted(names | optional))})")
        missing, extra = names - set(named), set(named) - names - optional
        if missing:
            raise RuleError(f"{op} needs {', '.join(n + '::' for n in sorted(missing))}")
        if extra:
            raise RuleError(f"{op} does not take {', '.join(n + '::' for n in sorted(extra))}")

    if op in COMPARISONS + STRING_OPS + ("in",):
        if named or len(args) != 2:
            raise RuleError(f"{op} takes two operands")
        if op == "in" and args[1][0] not in ("list", "ctx"):
            raise RuleError("in takes a value and a list, e.g. (in $userId [\"1\", \"2\"])")
    elif op in ("and", "or"):
        if named or len(args) < 2:
            raise RuleError(f"{op} takes two or more expressions")
    elif op == "not":
        if named or len(args) != 1:
            raise RuleError("not takes one expression")
    elif op == "matches":
        need({"in", "pattern"})
        pattern = named["pattern"]
        if pattern[0] != "lit" or not isinstance(pattern[1], str):
            raise RuleError("matches needs pattern::\"<regular expression>\"")
        try:
            re.compile(pattern[1])
        except re.error as exc:
            raise RuleError(f"matches: the pattern is not a valid regular expression: {exc}") from None
    elif op == "exists":
        need({"key"})
        if named["key"][0] != "lit" or not isinstance(named["key"][1], str):
            raise RuleError("exists needs key::\"<context key>\"")
    elif op == "split":
        need({"pct", "by"}, {"seed"})
        pct = named["pct"]
        if pct[0] != "lit" or isinstance(pct[1], bool) or not isinstance(pct[1], (int, float)) \
                or not 0 <= pct[1] <= 100:
            raise RuleError("split needs pct::<number from 0 to 100>")
        if named["by"][0] != "ctx":
            raise RuleError("split needs by::$<context key>")
        if "seed" in named and (named["seed"][0] != "lit" or not isinstance(named["seed"][1], str)):
            raise RuleError("split's seed:: is a string")


# -- feature flag documents ("Type reference for AWS.AppConfig.FeatureFlags") -----------------------

KEY = re.compile(r"^[a-z][a-zA-Z\d_-]{0,63}$")
CUSTOMER_NAME = re.compile(r"^[^\n]{1,64}$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class _Problems:
    """Collects what is wrong with a document as BadRequestException's InvalidConfiguration details."""

    def __init__(self):
        self.items: list[dict] = []

    def add(self, location: str, constraint: str, reason: str, value: Any = MISSING) -> None:
        item = {"Type": FEATURE_FLAGS, "Location": location, "Constraint": constraint, "Reason": reason}
        if value is not MISSING:
            text = value if isinstance(value, str) else json.dumps(value)
            item["Value"] = text if len(text) <= 200 else text[:197] + "..."
        self.items.append(item)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_integer(v: Any) -> bool:
    return _is_number(v) and float(v).is_integer()


def _only(obj: dict, allowed: set, where: str, problems: _Problems, pattern: re.Pattern | None = None) -> None:
    for key in obj:
        if key not in allowed and not (pattern is not None and pattern.match(key)):
            problems.add(f"{where}.{key}", "additionalProperties", f"{key!r} is not allowed here", key)


def validate_feature_flags(content: bytes) -> tuple[dict | None, list[dict]]:
    """Check an AWS.AppConfig.FeatureFlags document: the documented JSON schema, then what the
    user guide adds (values only for defined flags and attributes, the reserved attribute name
    `enabled`, attribute values within their constraints, a flag's variants with unique names,
    syntactically valid rules, and the rule-less default variant last). Returns (document or
    None, problems)."""
    problems = _Problems()
    try:
        doc = json.loads(content)
    except (ValueError, UnicodeDecodeError) as exc:
        problems.add("$", "json", f"the content is not JSON: {exc}")
        return None, problems.items
    if not isinstance(doc, dict):
        problems.add("$", "type", "the document must be a JSON object", doc)
        return None, problems.items
    _only(doc, {"version", "flags", "values"}, "$", problems)
    if doc.get("version") != "1":
        problems.add("$.version", "enum", 'version is required and must be the string "1"', doc.get("version"))
    flags = doc.get("flags", {})
    values = doc.get("values", {})
    if not isinstance(flags, dict):
        problems.add("$.flags", "type", "flags must be an object", flags)
        flags = {}
    if not isinstance(values, dict):
        problems.add("$.values", "type", "values must be an object", values)
        values = {}
    definitions: dict[str, dict] = {}
    for key, flag in flags.items():
        where = f"$.flags.{key}"
        if not KEY.match(key):
            problems.add(where, "pattern", "a flag key starts with a lowercase letter and has at most 64 "
                                           "letters, digits, '_' or '-'", key)
        if not isinstance(flag, dict):
            problems.add(where, "type", "a flag definition must be an object", flag)
            continue
        _only(flag, {"name", "description", "_createdAt", "_updatedAt", "_deprecation", "attributes"}, where,
              problems)
        if "name" in flag and not (isinstance(flag["name"], str) and CUSTOMER_NAME.match(flag["name"])):
            problems.add(f"{where}.name", "pattern", "a name is 1 to 64 characters without line breaks",
                         flag["name"])
        _check_description(flag, where, problems)
        for stamp in ("_createdAt", "_updatedAt"):
            if stamp in flag and not isinstance(flag[stamp], str):
                problems.add(f"{where}.{stamp}", "type", f"{stamp} must be a string", flag[stamp])
        if "_deprecation" in flag:
            dep = flag["_deprecation"]
            if not isinstance(dep, dict):
                problems.add(f"{where}._deprecation", "type", "_deprecation must be an object", dep)
            else:
                _only(dep, {"status", "date"}, f"{where}._deprecation", problems)
                if "status" in dep and dep["status"] != "planned":
                    problems.add(f"{where}._deprecation.status", "enum", 'status must be "planned"', dep["status"])
                if "date" in dep and not (isinstance(dep["date"], str) and DATE.match(dep["date"])):
                    problems.add(f"{where}._deprecation.date", "format", "date must be a date (YYYY-MM-DD)",
                                 dep["date"])
        attributes = flag.get("attributes", {})
        if not isinstance(attributes, dict):
            problems.add(f"{where}.attributes", "type", "attributes must be an object", attributes)
            attributes = {}
        if len(attributes) > 25:
            problems.add(f"{where}.attributes", "maxProperties", "a flag has at most 25 attributes", len(attributes))
        checked = {}
        for name, attribute in attributes.items():
            at = f"{where}.attributes.{name}"
            if name == "enabled":
                problems.add(at, "reserved", 'the attribute name "enabled" is reserved', name)
            elif not KEY.match(name):
                problems.add(at, "pattern", "an attribute name starts with a lowercase letter and has at most 64 "
                                            "letters, digits, '_' or '-'", name)
            if not isinstance(attribute, dict):
                problems.add(at, "type", "an attribute definition must be an object", attribute)
                continue
            _only(attribute, {"description", "constraints"}, at, problems)
            _check_description(attribute, at, problems)
            constraints = attribute.get("constraints")
            if constraints is not None and _check_constraints(constraints, f"{at}.constraints", problems,
                                                              ("number", "string", "array", "boolean")):
                checked[name] = constraints
            elif constraints is None:
                checked[name] = None
        definitions[key] = checked
    for key, value in values.items():
        where = f"$.values.{key}"
        if key not in flags:
            problems.add(where, "flag", f"there are values for {key!r}, which is not a flag defined in flags", key)
            continue
        if not isinstance(value, dict):
            problems.add(where, "type", "a flag's values must be an object", value)
            continue
        attributes = definitions.get(key, {})
        _only(value, {"enabled", "_createdAt", "_updatedAt", "_variants"}, where, problems, KEY)
        if "enabled" in value and not isinstance(value["enabled"], bool):
            problems.add(f"{where}.enabled", "type", "enabled must be true or false", value["enabled"])
        attribute_values = {k: v for k, v in value.items() if k not in ("enabled", "_createdAt", "_updatedAt",
                                                                         "_variants") and KEY.match(k)}
        _check_attribute_values(attribute_values, attributes, where, problems, value.get("enabled") is True)
        if "_variants" in value:
            _check_variants(value["_variants"], attributes, f"{where}._variants", problems)
    return doc, problems.items


def _check_description(obj: dict, where: str, problems: _Problems) -> None:
    if "description" in obj and not (isinstance(obj["description"], str) and len(obj["description"]) <= 1024):
        problems.add(f"{where}.description", "maxLength", "a description is a string of at most 1024 characters",
                     obj["description"])


def _check_constraints(c: Any, where: str, problems: _Problems, kinds: tuple) -> bool:
    if not isinstance(c, dict) or c.get("type") not in kinds:
        problems.add(f"{where}.type", "oneOf", f"constraints need a type among {', '.join(kinds)}",
                     c.get("type") if isinstance(c, dict) else c)
        return False
    kind = c["type"]
    allowed = {"type", "required"} | {"number": {"minimum", "maximum"}, "string": {"pattern", "enum"},
                                      "array": {"elements"}, "boolean": set()}[kind]
    before = len(problems.items)
    _only(c, allowed, where, problems)
    if "required" in c and not isinstance(c["required"], bool):
        problems.add(f"{where}.required", "type", "required must be true or false", c["required"])
    if kind == "number":
        for bound in ("minimum", "maximum"):
            if bound in c and not _is_integer(c[bound]):
                problems.add(f"{where}.{bound}", "type", f"{bound} must be an integer", c[bound])
    elif kind == "string":
        if "pattern" in c and "enum" in c:
            problems.add(where, "not", "a string constraint has a pattern or an enum, not both")
        if "pattern" in c:
            try:
                if not isinstance(c["pattern"], str) or len(c["pattern"]) > 1024:
                    raise re.error("not a string of at most 1024 characters")
                re.compile(c["pattern"])
            except re.error as exc:
                problems.add(f"{where}.pattern", "pattern", f"the pattern is not a valid regular expression: {exc}",
                             c["pattern"])
        if "enum" in c and not (isinstance(c["enum"], list) and all(
                (isinstance(e, str) and len(e) <= 1024) or (_is_integer(e)) for e in c["enum"])):
            problems.add(f"{where}.enum", "type", "enum is a list of strings (at most 1024 characters) or integers",
                         c["enum"])
    elif kind == "array" and "elements" in c:
        _check_constraints(c["elements"], f"{where}.elements", problems, ("number", "string"))
    return len(problems.items) == before


def _check_attribute_values(values: dict, definitions: dict, where: str, problems: _Problems,
                            check_required: bool) -> None:
    if len(values) > 25:
        problems.add(where, "maxProperties", "at most 25 attribute values", len(values))
    for name, value in values.items():
        at = f"{where}.{name}"
        if name not in definitions:
            problems.add(at, "attribute", f"{name!r} is not an attribute defined for this flag", name)
            continue
        if not _is_attribute_value(value):
            problems.add(at, "oneOf", "an attribute value is a string (at most 1024 characters), a number, a "
                                      "boolean, or a list of strings or of numbers", value)
            continue
        if definitions[name] is not None:
            _check_value(value, definitions[name], at, problems)
    if check_required:
        for name, c in definitions.items():
            if c is not None and c.get("required") and name not in values:
                problems.add(f"{where}.{name}", "required", f"the attribute {name!r} is required", name)


def _is_attribute_value(v: Any) -> bool:
    if isinstance(v, str):
        return len(v) <= 1024
    if isinstance(v, bool) or _is_number(v):
        return True
    if isinstance(v, list):
        return all(isinstance(x, str) and len(x) <= 1024 for x in v) or all(_is_number(x) for x in v)
    return False


def _check_value(value: Any, c: dict, at: str, problems: _Problems) -> None:
    kind = c["type"]
    if kind == "array":
        if not isinstance(value, list):
            problems.add(at, "type", "the attribute's value must be an array", value)
        elif "elements" in c:
            for i, item in enumerate(value):
                _check_value(item, c["elements"], f"{at}[{i}]", problems)
    elif kind == "number":
        if not _is_number(value):
            problems.add(at, "type", "the attribute's value must be a number", value)
        elif "minimum" in c and value < c["minimum"]:
            problems.add(at, "minimum", f"the value is below the minimum {c['minimum']}", value)
        elif "maximum" in c and value > c["maximum"]:
            problems.add(at, "maximum", f"the value is above the maximum {c['maximum']}", value)
    elif kind == "string":
        if not isinstance(value, str):
            problems.add(at, "type", "the attribute's value must be a string", value)
        elif "pattern" in c and not re.search(c["pattern"], value):
            problems.add(at, "pattern", f"the value does not match the pattern {c['pattern']}", value)
        elif "enum" in c and value not in c["enum"]:
            problems.add(at, "enum", "the value is not one of the enum's values", value)
    elif kind == "boolean" and not isinstance(value, bool):
        problems.add(at, "type", "the attribute's value must be true or false", value)


def _check_variants(variants: Any, definitions: dict, where: str, problems: _Problems) -> None:
    if not isinstance(variants, list) or not variants:
        problems.add(where, "type", "_variants is a non-empty list of variants", variants)
        return
    names = set()
    for i, variant in enumerate(variants):
        at = f"{where}[{i}]"
        if not isinstance(variant, dict):
            problems.add(at, "type", "a variant must be an object", variant)
            continue
        _only(variant, {"enabled", "name", "rule", "attributeValues"}, at, problems)
        name = variant.get("name")
        if not (isinstance(name, str) and CUSTOMER_NAME.match(name)):
            problems.add(f"{at}.name", "required", "a variant needs a name of 1 to 64 characters", name)
        elif name in names:
            problems.add(f"{at}.name", "unique", f"two variants are named {name!r}", name)
        names.add(name)
        if not isinstance(variant.get("enabled"), bool):
            problems.add(f"{at}.enabled", "required", "a variant needs enabled: true or false", variant.get("enabled"))
        last = i == len(variants) - 1
        rule = variant.get("rule")
        if rule is None or rule == "":
            if not last:
                problems.add(f"{at}.rule", "default", "only the last variant (the default) has no rule")
        elif last:
            problems.add(f"{at}.rule", "default", "the last variant is the default variant and has no rule", rule)
        elif not isinstance(rule, str) or len(rule) > 16384:
            problems.add(f"{at}.rule", "maxLength", "a rule is a string of at most 16384 characters", rule)
        else:
            try:
                compile_rule(rule)
            except RuleError as exc:
                problems.add(f"{at}.rule", "rule", f"the rule is not valid: {exc}", rule)
        attribute_values = variant.get("attributeValues", {})
        if not isinstance(attribute_values, dict):
            problems.add(f"{at}.attributeValues", "type", "attributeValues must be an object", attribute_values)
        else:
            bad = [k for k in attribute_values if not KEY.match(k)]
            for k in bad:
                problems.add(f"{at}.attributeValues.{k}", "pattern", "an attribute name starts with a lowercase "
                                                                      "letter", k)
            _check_attribute_values({k: v for k, v in attribute_values.items() if k not in bad}, definitions,
                                    f"{at}.attributeValues", problems, variant.get("enabled") is True)


def session_bucket(session_id: str, env_id: str, deployment_number: int) -> float:
    """A session's fixed draw in [0, 100) for one deployment: it receives that deployment's
    version while the draw is below PercentageComplete."""
    digest = hashlib.sha256(f"{session_id}\x1f{env_id}\x1f{deployment_number}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 64 * 100.0


# -- the variant evaluator (the test bed's stand-in for AppConfig Agent) ------------------------------


class FlagResult(tuple):
    """(enabled, variant, attributes) of one flag for one context; also by name."""

    __slots__ = ()

    def __new__(cls, enabled: bool, variant: str | None, attributes: dict):
        return super().__new__(cls, (enabled, variant, attributes))

    enabled = property(lambda self: self[0])
    variant = property(lambda self: self[1])
    attributes = property(lambda self: self[2])

    def agent_json(self) -> dict:
        """The flag as AppConfig Agent answers it: {"_variant": ..., "enabled": ..., attributes}."""
        out: dict = {} if self.variant is None else {"_variant": self.variant}
        out["enabled"] = self.enabled
        out.update(self.attributes)
        return out


def evaluate_flag(source: dict | str | bytes, flag: str, context: dict | None = None) -> FlagResult:
    """Evaluate one feature flag for one caller, as AppConfig Agent does.

    `source` is a feature flag document: the full AWS.AppConfig.FeatureFlags definition (a dict,
    as given to CreateHostedConfigurationVersion), the Ion retrieval format (str or bytes, as
    GetLatestConfiguration gives the agent), or the JSON retrieval format (a dict of flag ->
    {"enabled", ...}, which has no variants). `context` maps context keys (the `$key`s of rules)
    to values. Variants are tried in order; the first whose rule is true wins; the rule-less last
    one is the default. Returns (enabled, variant name or None for a flag without variants,
    attribute values — empty when the result is disabled). Raises KeyError for an unknown flag,
    RuleError for a rule or an Ion document that does not parse."""
    variants = _flag_variants(source, flag)
    context = dict(context or {})
    if isinstance(variants, dict):
        enabled = variants.get("enabled") is True
        return FlagResult(enabled, None, {k: v for k, v in variants.items() if k != "enabled" and not
                                          k.startswith("_")} if enabled else {})
    for rule, content in variants:
        if rule is None or _evaluate(rule, context, flag) is True:
            enabled = content.get("enabled") is True
            return FlagResult(enabled, content.get("_variant"),
                              {k: v for k, v in content.items() if k not in ("enabled", "_variant")} if enabled else {})
    raise RuleError(f"flag {flag!r} has no default variant")


def evaluate_flags(source: dict | str | bytes, context: dict | None = None) -> dict[str, FlagResult]:
    """`evaluate_flag` for every flag of the document, by flag key."""
    return {key: evaluate_flag(source, key, context) for key in _flag_keys(source)}


def _flag_keys(source) -> list[str]:
    if isinstance(source, (str, bytes)):
        return [node[1] for node in _parse_ion(source.decode() if isinstance(source, bytes) else source)]
    if "version" in source and ("flags" in source or "values" in source):
        return list(source.get("flags", {}))
    return list(source)


def _flag_variants(source, flag: str):
    """A basic flag as its {"enabled", attributes} dict; a multi-variant one as
    [(compiled rule or None for the default, {"_variant", "enabled", attributes})]."""
    if isinstance(source, (str, bytes)):
        for node in _parse_ion(source.decode() if isinstance(source, bytes) else source):
            if node[0] != "ann":
                raise RuleError("an Ion feature flag document is a series of flag-key::value entries")
            if node[1] != flag:
                continue
            value = node[2]
            if value[0] == "str":
                return json.loads(value[1])
            if value[0] != "list" or not value[1]:
                raise RuleError(f"flag {flag!r}: expected a long string or a list of variants")
            out = []
            for item in value[1]:
                if item[0] == "str":
                    out.append((None, json.loads(item[1])))
                elif item[0] == "list" and len(item[1]) == 2 and item[1][1][0] == "str":
                    out.append((_compile(item[1][0]), json.loads(item[1][1][1])))
                else:
                    raise RuleError(f"flag {flag!r}: a variant is [rule, '''json'''] or the default's '''json'''")
            return out
        raise KeyError(flag)
    if "version" in source and ("flags" in source or "values" in source):
        if flag not in source.get("flags", {}):
            raise KeyError(flag)
        value = source.get("values", {}).get(flag, {})
        if not value.get("_variants"):
            return _basic_content(value)
        return [(compile_rule(v["rule"]) if v.get("rule") else None, _variant_content(v))
                for v in value["_variants"]]
    return source[flag]


def split_bucket(value: Any, flag: str, seed: str | None = None) -> float:
    """Where a context value falls in [0, 100) for `split`: a SHA-256 hash of the seed (when
    given: the same for every flag, profile and account) or else of the flag key (consistent
    within the flag), and of the value's text."""
    salt = f"seed:{seed}" if seed is not None else f"flag:{flag}"
    digest = hashlib.sha256(f"{salt}\x1f{_text(value)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 64 * 100.0


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _as_bool(v: Any):
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.strip().lower() in ("true", "false"):
        return v.strip().lower() == "true"
    return None


def _as_number(v: Any):
    if _is_number(v):
        return v
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return None
    return None


def _as_time(v: Any):
    if isinstance(v, datetime):
        return v if v.tzinfo else v.replace(tzinfo=timezone.utc)
    if isinstance(v, str):
        return _parse_ts(v)
    return None


def _comparable(a: Any, b: Any):
    """The two operands as values of one type (context values often arrive as strings), or None."""
    if a is MISSING or b is MISSING or a is None or b is None:
        return None
    for kind, convert in ((bool, _as_bool), (datetime, _as_time)):
        if isinstance(a, kind) or isinstance(b, kind):
            a, b = convert(a), convert(b)
            return None if a is None or b is None else (a, b)
    if _is_number(a) or _is_number(b):
        a, b = _as_number(a), _as_number(b)
        return None if a is None or b is None else (a, b)
    if isinstance(a, str) and isinstance(b, str):
        return a, b
    return None


def _evaluate(node, context: dict, flag: str) -> Any:
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "ctx":
        value = context.get(node[1], MISSING)
        return MISSING if value is None else value
    if kind == "list":
        return [_evaluate(x, context, flag) for x in node[1]]
    op, args, named = node[1], node[2], node[3]
    if op == "and":
        return all(_evaluate(a, context, flag) is True for a in args)
    if op == "or":
        return any(_evaluate(a, context, flag) is True for a in args)
    if op == "not":
        value = _as_bool(_evaluate(args[0], context, flag))
        return value is False
    if op in COMPARISONS:
        pair = _comparable(_evaluate(args[0], context, flag), _evaluate(args[1], context, flag))
        if pair is None:
            return False
        a, b = pair
        try:
            return {"eq": a == b, "gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b}[op]
        except TypeError:
            return False
    if op in STRING_OPS:
        a, b = _evaluate(args[0], context, flag), _evaluate(args[1], context, flag)
        if not isinstance(a, str) or not isinstance(b, str):
            return False
        return {"begins_with": a.startswith, "ends_with": a.endswith, "contains": a.__contains__}[op](b)
    if op == "in":
        value, options = _evaluate(args[0], context, flag), _evaluate(args[1], context, flag)
        if not isinstance(options, list):
            return False
        return any((pair := _comparable(value, option)) is not None and pair[0] == pair[1] for option in options)
    if op == "matches":
        value = _evaluate(named["in"], context, flag)
        return isinstance(value, str) and re.search(named["pattern"][1], value) is not None
    if op == "exists":
        return context.get(named["key"][1]) is not None
    if op == "split":
        value = _evaluate(named["by"], context, flag)
        if value is MISSING:
            return False
        seed = named["seed"][1] if "seed" in named else None
        return split_bucket(value, flag, seed) < float(named["pct"][1])
    raise RuleError(f"unknown operator {op!r}")
