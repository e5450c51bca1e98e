"""Every table, imported in one place so that metadata (Alembic, tests) sees them all."""

from server.activities.models import Activity
from server.auth.models import User
from server.branches.models import Branch
from server.db import Base
from server.members.models import Member
from tenants.models import Tenant

__all__ = ["Activity", "Base", "Branch", "Member", "Tenant", "User"]
