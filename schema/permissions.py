"""Permissions declared on fields: `extensions=[allow(Can(Resource.MEMBER))]`.

They answer from memory (the principal and the Casbin-derived scopes). A field the principal
may not use at all is UNAUTHENTICATED (no principal) or FORBIDDEN (no right anywhere, audited);
objects outside the scope are simply absent from what the field returns.
"""

from __future__ import annotations

from typing import Any

from strawberry.extensions.field_extension import FieldExtension
from strawberry.permission import BasePermission, PermissionExtension
from strawberry.types import Info

from policies.rbac import Action, Resource


class SignedIn(BasePermission):
    message = "sign in first"

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        info.context.require_principal()  # raises UNAUTHENTICATED, saying why
        return True


class Can(BasePermission):
    def __init__(self, resource: Resource, action: Action = Action.READ) -> None:
        self.resource, self.action = resource, action
        self.message = f"you may not {action.value} {resource.value}"

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        ctx = info.context
        ctx.require_principal()
        if ctx.scope(self.resource, self.action).is_empty:
            raise ctx.denied(f"{self.action.value} {self.resource.value}")
        return True


def allow(*permissions: BasePermission) -> FieldExtension:
    return PermissionExtension(permissions=list(permissions), use_directives=False)
