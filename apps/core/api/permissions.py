"""Role permission for API views: reads need the model's view permission, writes a permission the view names.

Secure by default: a view that writes and names no permission is refused to everyone.
"""

from rest_framework.permissions import SAFE_METHODS, BasePermission


class RolePermission(BasePermission):
    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_active):
            return False
        required = getattr(view, "required_permission", None)
        if isinstance(required, dict):  # per HTTP method, e.g. {"POST": "statements.add_importrun"}
            required = required.get(request.method)
        if required is None and request.method in SAFE_METHODS:
            queryset = getattr(view, "queryset", None)
            if queryset is None:
                return False
            meta = queryset.model._meta
            required = f"{meta.app_label}.view_{meta.model_name}"
        if required is None:
            return False
        return user.has_perm(required)
