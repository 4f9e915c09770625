from apps.core.roles import ADMIN, ROLES, has_role, user_roles


def console(request) -> dict:
    user = getattr(request, "user", None)
    if not (user and user.is_authenticated):
        return {}
    roles = sorted(user_roles(user))
    return {
        "user_roles": roles,
        "user_role_labels": [ROLES[r].split(":")[0] for r in roles],
        "is_admin_role": has_role(user, ADMIN),
        "can_work_cases": user.has_perm("exceptions.work_exceptioncase"),
    }
