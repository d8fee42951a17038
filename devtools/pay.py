"""`make pay ORDER=<order id> [AMOUNT=<cents>]`: what the payment provider sends once a
buyer paid, to the running local stack: a payment.succeeded event for the order's total
(or AMOUNT, to try a mismatch), signed with the stack's webhook secret
(`.local/outputs.json`, PaymentWebhookSecret) and posted to POST /payments/webhook.
Prints the answer.

    python -m devtools.pay ORDER_ID [AMOUNT_CENTS]
"""

import hashlib
import hmac
import json
import sys
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

from devtools.http_api import admin_scope, local_dir, make_token

SIGNATURE_HEADER = "Stockroom-Signature"


def signature_header(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """Stockroom-Signature for `body` signed at `timestamp` (now if None)."""
    signed_at = int(time.time()) if timestamp is None else timestamp
    payload = f"{signed_at}.".encode() + body
    digest = hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()
    return f"t={signed_at},v1={digest}"


def payment_for(order: dict[str, Any], amount_cents: int | None = None) -> dict[str, Any]:
    """A payment.succeeded event paying `order` (its total unless `amount_cents`)."""
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "type": "payment.succeeded",
        "order_id": order["order_id"],
        "amount_cents": order["total_cents"] if amount_cents is None else amount_cents,
        "currency": order["currency"],
    }


def _call(request: urllib.request.Request) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def pay(order_id: str, amount_cents: int | None = None) -> tuple[int, str]:
    """The webhook's status and body for a signed payment of the order (read through
    the API with an admin token, as the store's own back office would)."""
    outputs = json.loads((local_dir() / "outputs.json").read_text())
    api = outputs["ApiUrl"]
    token = make_token("payment-provider", admin_scope())
    read = urllib.request.Request(
        f"{api}/admin/orders/{order_id}", headers={"Authorization": f"Bearer {token}"}
    )
    status, text = _call(read)
    if status != 200:
        return status, text
    event = payment_for(json.loads(text), amount_cents)
    return send_payment(api, outputs["PaymentWebhookSecret"], event)


def send_payment(api: str, secret: str, event: dict[str, Any]) -> tuple[int, str]:
    """POST /payments/webhook with `event`, signed with `secret`: status and body."""
    body = json.dumps(event).encode()
    send = urllib.request.Request(
        f"{api}/payments/webhook",
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature_header(secret, body),
        },
    )
    return _call(send)


def main(argv: list[str]) -> int:
    if not 1 <= len(argv) <= 2:
        print(__doc__, file=sys.stderr)
        return 2
    status, text = pay(argv[0], int(argv[1]) if len(argv) == 2 else None)
    print(status, text)
    return 0 if 200 <= status < 300 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
