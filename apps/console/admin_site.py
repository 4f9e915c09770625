from apps.core.roles import ADMIN, has_role


def restrict_admin_to_admin_role(site) -> None:
    """Django admin is for the admin role only (and superusers), whatever a user's is_staff flag says."""

    def has_permission(request) -> bool:
        user = request.user
        return bool(user.is_active and user.is_authenticated and has_role(user, ADMIN))

    site.has_permission = has_permission
    site.site_header = "FinOps Console administration"
    site.site_title = "FinOps Console admin"
