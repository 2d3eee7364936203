"""A Lambda alias on a fresh emulator, and the Lambda traffic simulator run against it.

Shared by the tests of `lambda_traffic.py` (test_lambda_traffic.py) and of
the production shapes (test_production_shapes.py): function `shop` with
versions 1 and 2, alias `live` on version 1 with 25 % going to version 2.
"""

import os
import subprocess
import sys

from .emulator_process import CLIENT_ENV, EmulatorCase, TESTBED, aws_client, code_zip

SIMULATOR = os.path.join(TESTBED, "lambda_traffic.py")
ROLE = "arn:aws:iam::123456789012:role/lambda-role"


class ShopAlias(EmulatorCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.lam = aws_client("lambda", cls.endpoint)
        cls.cw = aws_client("cloudwatch", cls.endpoint)
        aws_client("iam", cls.endpoint).create_role(RoleName="lambda-role", AssumeRolePolicyDocument="{}")
        cls.lam.create_function(FunctionName="shop", Runtime="python3.12", Role=ROLE, Handler="index.handler",
                                Code={"ZipFile": code_zip("v0")})
        for n in (1, 2):
            cls.lam.update_function_code(FunctionName="shop", ZipFile=code_zip(f"v{n}"))
            cls.lam.publish_version(FunctionName="shop")
        cls.lam.create_alias(FunctionName="shop", Name="live", FunctionVersion="1",
                             RoutingConfig={"AdditionalVersionWeights": {"2": 0.25}})

    def simulator(self, *args, endpoint=None):
        """`lambda_traffic.py` for shop:live with `args`, its standard streams piped (text)."""
        env = dict(os.environ, **CLIENT_ENV, AWS_ENDPOINT_URL=endpoint or self.endpoint)
        return subprocess.Popen(
            [sys.executable, SIMULATOR, "--function", "shop", "--alias", "live", *args],
            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
