"""Forms of the payments console pages: they parse and check input; the services do the work and re-check."""

from __future__ import annotations

from django import forms

REASON_MAX = 100  # the history row keeps 100 characters of a reason; refuse more rather than cut it silently


class BatchActionForm(forms.Form):
    """Approve, reject or cancel a batch. Rejecting or cancelling says why (the service insists too)."""

    ACTIONS = [("approve", "Approve"), ("reject", "Reject"), ("cancel", "Cancel")]

    action = forms.ChoiceField(choices=ACTIONS)
    reason = forms.CharField(required=False, max_length=REASON_MAX, strip=True)

    def clean(self):
        data = super().clean()
        action = data.get("action")
        if action in ("reject", "cancel") and not data.get("reason"):
            verb = "reject" if action == "reject" else "cancel"
            self.add_error("reason", f"Say why you {verb} this batch: a reason is required.")
        return data

    def first_error(self) -> str:
        for errors in self.errors.values():
            return errors[0]
        return ""


class FlagClearForm(forms.Form):
    reason = forms.CharField(
        max_length=REASON_MAX, strip=True,
        error_messages={"required": "Say why the flag can be cleared: a reason is required."},
    )

    def first_error(self) -> str:
        for errors in self.errors.values():
            return errors[0]
        return ""
