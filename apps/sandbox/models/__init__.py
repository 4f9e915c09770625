"""The sandbox partners' own tables: the bank, the ERPs (cloud and legacy) and the expense platform.

Nothing here refers to a hub table: the sandbox is the outside world.
"""

from apps.sandbox.models.bank import (  # noqa: F401
    AcceptStatus,
    BookingKind,
    Channel,
    DocumentKind,
    PaymentStatus,
    ReturnMode,
    SandboxAccount,
    SandboxBank,
    SandboxBooking,
    SandboxDocument,
    SandboxMessage,
    SandboxPayment,
    StatementFormat,
)
from apps.sandbox.models.erp import (  # noqa: F401
    BatchStatus,
    ErpFlavour,
    JournalStatus,
    PeriodStatus,
    SandboxCategoryAccount,
    SandboxCostCentre,
    SandboxEmployee,
    SandboxErp,
    SandboxErpEntity,
    SandboxErpPaymentBatch,
    SandboxFxRate,
    SandboxGlAccount,
    SandboxJournal,
    SandboxPaymentStatusUpdate,
    SandboxPeriod,
    SandboxTaxCode,
)
from apps.sandbox.models.expense import (  # noqa: F401
    ApprovalStatus,
    ExportState,
    SandboxExpenseEntry,
    SandboxExpensePlatform,
    SandboxExpenseReport,
)
