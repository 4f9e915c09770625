"""CSV upload of approved reports and the expense_policies config section."""

from __future__ import annotations

import pytest

from apps.core.config import config_load
from apps.core.errors import ValidationFailed
from apps.exceptions.models import ExceptionCase
from apps.expenses.csvimport import expense_csv_import
from apps.expenses.models import ExpensePolicy, ExpenseReport
from tests.conftest import BankAccountFactory, EntityFactory
from tests.expenses.expense_builders import TODAY

pytestmark = pytest.mark.django_db

HEADER = "report_id;entity;employee_id;employee_name;currency;total;line_id;date;category;amount;tax_code;tax_amount;cost_centre\n"


@pytest.fixture
def de01(db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return EntityFactory(code="DE01", country="DE", base_currency="EUR")


def test_csv_groups_rows_into_reports_takes_good_ones_and_lists_bad_ones(de01, make_user):
    user = make_user("ap_clerk", entities=[de01])
    content = (HEADER
               + f"R-1;DE01;E-0042;Jana;EUR;140.40;1;{TODAY};travel;119.00;V19;19.00;CC100\n"
               + f"R-1;DE01;E-0042;Jana;EUR;140.40;2;{TODAY};meals;21.40;V7;1.40;CC200\n"
               + f"R-2;DE01;E-0042;Jana;EUR;10.00;1;{TODAY};meals;10.001;V7;0.65;CC200\n").encode()
    result = expense_csv_import(content=content, platform="upload", actor=user, filename="reports.csv")
    assert result.created == ["R-1"] and len(result.rejected) == 1
    assert result.rejected[0]["rows"] == "line 4" and "lines[0].amount" in result.rejected[0]["error"]
    report = ExpenseReport.objects.get(external_id="R-1")
    assert report.lines.count() == 2 and str(report.total) == "140.40000" and report.source == "upload"
    case = ExceptionCase.objects.get(kind="expense.intake_rejected")
    assert "R-2" in case.message and case.raw_document_id == result.document_id
    again = expense_csv_import(content=content, platform="upload", actor=user)
    assert again.duplicates == ["R-1"] and ExpenseReport.objects.count() == 1


def test_csv_without_required_columns_names_them(de01, make_user):
    with pytest.raises(ValidationFailed, match=r"line 1 \(header\): missing column\(s\) total"):
        expense_csv_import(content=b"report_id,entity,employee_id,currency,line_id,date,category,amount\n",
                           platform="upload", actor=make_user("ap_clerk", entities=[de01]))
    with pytest.raises(ValidationFailed, match="empty"):
        expense_csv_import(content=b"  ", platform="upload", actor=None)


def test_upload_page(client, de01, make_user):
    client.force_login(make_user("ap_clerk", entities=[de01]))
    from django.core.files.uploadedfile import SimpleUploadedFile

    content = (HEADER + f"R-9;DE01;E-0042;Jana;EUR;21.40;1;{TODAY};meals;21.40;V7;1.40;CC200\n").encode()
    page = client.post("/expenses/upload/", {"platform": "concur", "file": SimpleUploadedFile("r.csv", content)})
    assert page.status_code == 200 and "1 report taken" in page.content.decode()
    assert ExpenseReport.objects.get(external_id="R-9").platform == "concur"


def test_expense_policy_from_config_load(de01):
    BankAccountFactory(entity=de01, iban="DE65100700000123456789", currency="EUR")
    data = {"expense_policies": [{"entity": "DE01", "reimbursement_account": "DE65100700000123456789",
                                  "rounding_account": "6960", "tax_tolerance": "0.05"}]}
    assert [r.action for r in config_load(data)] == ["created"]
    assert [r.action for r in config_load(data)] == ["unchanged"]
    policy = ExpensePolicy.objects.get(entity=de01)
    assert policy.reimbursement_account.iban == "DE65100700000123456789" and str(policy.tax_tolerance) == "0.05000"
    with pytest.raises(Exception, match="not a bank account of DE01"):
        config_load({"expense_policies": [{"entity": "DE01", "reimbursement_account": "DE89370400440532013000"}]})
