"""A seeded planted-secret set: fake but correctly shaped credentials in realistic code and config.

`planted_cases()` returns ``(kind, text, secret)`` triples: one credential of a known kind
embedded in a snippet of Python, JavaScript, Go, Java, YAML, .env, JSON, shell, HCL, PHP, Ruby,
an INI file or a Dockerfile. Every value is generated here from `random.Random(seed)`; none is a
real credential (random characters in the documented shape of each provider's keys).
`lookalike_negatives()` returns 200 texts that hold things a naive secret scanner confuses with
keys: hashes, UUIDs, base64 images, commit SHAs, documentation keys marked as examples,
placeholders and environment lookups.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import string
import uuid

ALNUM = string.ascii_letters + string.digits
UPPER_DIGITS = string.ascii_uppercase + string.digits
LOWER_DIGITS = string.ascii_lowercase + string.digits
URLSAFE = ALNUM + "-_"


def _rand(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _b64url(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _pem(rng: random.Random, label: str) -> str:
    body = base64.b64encode(bytes(rng.getrandbits(8) for _ in range(600))).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----"


def _secrets(rng: random.Random) -> dict[str, str]:
    """One fake value per credential kind."""
    jwt = ".".join(
        (
            _b64url({"alg": "HS256", "typ": "JWT"}),
            _b64url({"sub": str(rng.randint(10**6, 10**7)), "iat": rng.randint(10**9, 2 * 10**9)}),
            _rand(rng, URLSAFE, 43),
        )
    )
    return {
        "aws_access_key_id": "AKIA" + _rand(rng, UPPER_DIGITS, 16),
        "github_pat": "ghp_" + _rand(rng, ALNUM, 36),
        "github_fine_grained": "github_pat_" + _rand(rng, ALNUM + "_", 82),
        "gitlab_pat": "glpat-" + _rand(rng, ALNUM, 20),
        "slack_bot_token": f"xoxb-{rng.randint(10**10, 10**11)}-{rng.randint(10**10, 10**11)}-"
        + _rand(rng, ALNUM, 24),
        "slack_webhook": "https://hooks.slack.com/services/T"
        + _rand(rng, UPPER_DIGITS, 8)
        + "/B"
        + _rand(rng, UPPER_DIGITS, 8)
        + "/"
        + _rand(rng, ALNUM, 24),
        "stripe_live": "sk_live_" + _rand(rng, ALNUM, 24),
        "openai_project": "sk-proj-" + _rand(rng, URLSAFE, 48),
        "anthropic": "sk-ant-api03-" + _rand(rng, URLSAFE, 93) + "AA",
        "google_api_key": "AIza" + _rand(rng, URLSAFE, 35),
        "sendgrid": "SG." + _rand(rng, URLSAFE, 22) + "." + _rand(rng, URLSAFE, 43),
        "huggingface": "hf_" + _rand(rng, ALNUM, 34),
        "npm_token": "npm_" + _rand(rng, ALNUM, 36),
        "twilio_sid": "AC" + _rand(rng, "0123456789abcdef", 32),
        "jwt": jwt,
        "rsa_private_key": _pem(rng, "RSA PRIVATE KEY"),
        "openssh_private_key": _pem(rng, "OPENSSH PRIVATE KEY"),
        "postgres_url_password": _rand(rng, ALNUM, 14),
        "mongodb_url_password": _rand(rng, ALNUM + "!*", 16),
        "connection_string_password": _rand(rng, ALNUM + "!#", 15),
        "python_password": _rand(rng, ALNUM + "!@#%^", 16),
        "yaml_api_key": _rand(rng, "0123456789abcdef", 32),
        "env_secret": _rand(rng, ALNUM, 40),
        "json_client_secret": _rand(rng, URLSAFE, 32),
    }


# kind -> snippet templates ({s} is the secret); several languages per kind where natural.
TEMPLATES: dict[str, tuple[str, ...]] = {
    "aws_access_key_id": (
        'import boto3\n\ns3 = boto3.client(\n    "s3",\n    aws_access_key_id="{s}",\n'
        '    region_name="eu-west-1",\n)\n',
        "[default]\naws_access_key_id = {s}\nregion = us-east-1\n",
    ),
    "github_pat": (
        'const octokit = new Octokit({{ auth: "{s}" }});\nawait octokit.rest.repos.get();\n',
        "git clone https://{s}@github.com/acme/infra.git\n",
    ),
    "github_fine_grained": ('steps:\n  - run: gh auth login --with-token <<< "{s}"\n',),
    "gitlab_pat": ('curl --header "PRIVATE-TOKEN: {s}" "https://gitlab.com/api/v4/projects"\n',),
    "slack_bot_token": (
        'from slack_sdk import WebClient\nclient = WebClient(token="{s}")\n',
        "SLACK_BOT_TOKEN={s}\n",
    ),
    "slack_webhook": (
        'payload := strings.NewReader(`{{"text":"deploy done"}}`)\n'
        'http.Post("{s}", "application/json", payload)\n',
    ),
    "stripe_live": (
        "<?php\n\\Stripe\\Stripe::setApiKey('{s}');\n$charge = \\Stripe\\Charge::create([]);\n",
        'Stripe.api_key = "{s}"\n',
    ),
    "openai_project": (
        'from openai import OpenAI\nclient = OpenAI(api_key="{s}")\n',
        "OPENAI_API_KEY={s}\n",
    ),
    "anthropic": ('const client = new Anthropic({{ apiKey: "{s}" }});\n',),
    "google_api_key": (
        '<script src="https://maps.googleapis.com/maps/api/js?key={s}&callback=initMap"></script>\n',
        'String apiKey = "{s}";\nGeoApiContext ctx = new GeoApiContext.Builder().apiKey(apiKey).build();\n',
    ),
    "sendgrid": ('sg = sendgrid.SendGridAPIClient("{s}")\n',),
    "huggingface": (
        'login(token="{s}")\nmodel = AutoModel.from_pretrained("org/model")\n',
        "export HF_TOKEN={s}\n",
    ),
    "npm_token": ("//registry.npmjs.org/:_authToken={s}\n",),
    "twilio_sid": ('account_sid = "{s}"\nclient = Client(account_sid, auth_token)\n',),
    "jwt": (
        'fetch("/api/me", {{ headers: {{ Authorization: "Bearer {s}" }} }});\n',
        "curl -H 'Authorization: Bearer {s}' https://api.internal/v1/me\n",
    ),
    "rsa_private_key": ('PRIVATE_KEY = """{s}"""\n', "tls:\n  key: |\n{s}\n"),
    "openssh_private_key": ("$ cat ~/.ssh/id_ed25519\n{s}\n",),
    "postgres_url_password": (
        'engine = create_engine("postgresql://app_user:{s}@db.internal:5432/orders")\n',
        "DATABASE_URL=postgres://deploy:{s}@10.20.30.40/prod\n",
    ),
    "mongodb_url_password": (
        'const uri = "mongodb+srv://admin:{s}@cluster0.ab1cd.mongodb.net/test";\n',
    ),
    "connection_string_password": (
        '"ConnectionStrings": {{ "Default": "Server=sql01;Database=Shop;User Id=sa;Password={s};" }}\n',
        'conn = pyodbc.connect("DRIVER={{ODBC Driver 18}};SERVER=db;UID=app;PWD={s};")\n',
    ),
    "python_password": (
        'DB_PASSWORD = "{s}"\nconn = psycopg2.connect(password=DB_PASSWORD)\n',
        'db:\n  user: app\n  password: "{s}"\n',
    ),
    "yaml_api_key": (
        "service:\n  name: billing\n  api_key: '{s}'\n",
        'resource "datadog_monitor" "x" {{\n  api_key = "{s}"\n}}\n',
    ),
    "env_secret": ("APP_SECRET={s}\nDEBUG=false\n", 'ENV JWT_SECRET="{s}"\n'),
    "json_client_secret": (
        '{{"client_id": "web-app", "client_secret": "{s}", "scope": "openid"}}\n',
        'config.client_secret = "{s}"  # ruby\n',
    ),
}


def planted_cases(seed: int = 12) -> list[tuple[str, str, str]]:
    """Return ``(kind, text, secret)`` for every template, with a fresh fake secret each."""
    rng = random.Random(seed)
    cases = []
    for kind, templates in TEMPLATES.items():
        for template in templates:
            secret = _secrets(rng)[kind]
            text = template.format(s=secret)
            cases.append((kind, text, secret))
    return cases


def lookalike_negatives(seed: int = 200) -> list[str]:
    """Return 200 texts with secret look-alikes and no secret."""
    rng = random.Random(seed)
    hexdigits = "0123456789abcdef"
    makers = [
        lambda: f'checksum = "{hashlib.sha256(_rand(rng, ALNUM, 20).encode()).hexdigest()}"',
        lambda: f"md5sum: {hashlib.md5(_rand(rng, ALNUM, 20).encode()).hexdigest()}  dist.tar.gz",
        lambda: f"Fixed in commit {_rand(rng, hexdigits, 40)} (see #{rng.randint(100, 9999)}).",
        lambda: f"git checkout {_rand(rng, hexdigits, 40)}",
        lambda: f'request_id = "{uuid.UUID(int=rng.getrandbits(128))}"',
        lambda: f'<img src="data:image/png;base64,iVBORw0KGgo{_b64_blob(rng)}">',
        lambda: f"background: url(data:image/gif;base64,R0lGOD{_b64_blob(rng)});",
        lambda: (
            "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
        ),
        lambda: 'client = OpenAI(api_key="sk-...")  # replace with your key',
        lambda: 'api_key = "YOUR_API_KEY"',
        lambda: "GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        lambda: 'password = os.environ["DB_PASSWORD"]',
        lambda: "DATABASE_URL=postgres://user:password@localhost:5432/app",
        lambda: 'token = request.headers.get("Authorization")',
        lambda: f"sha1: {hashlib.sha1(_rand(rng, ALNUM, 20).encode()).hexdigest()}",
        lambda: f'integrity="sha384-{base64.b64encode(rng.randbytes(48)).decode()}"',
        lambda: f"Build {rng.randint(1000, 9999)} of {_rand(rng, hexdigits, 12)} passed.",
        lambda: 'secret_key = "<your-secret-key>"',
        lambda: "password: ${DB_PASSWORD}",
        lambda: f"The lorem ipsum key sk_test_EXAMPLE{_rand(rng, 'x', 20)} is for docs only.",
    ]
    return [makers[i % len(makers)]() for i in range(200)]


def _b64_blob(rng: random.Random) -> str:
    return base64.b64encode(rng.randbytes(rng.randint(120, 400))).decode()
