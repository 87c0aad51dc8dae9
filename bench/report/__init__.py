"""Certificates (one PDF per cable) and lot reports (PDF or HTML) from stored records.

Both read only what the store holds (a `CableRecord`, its `ReferenceRecord`,
a lot's rows), so a certificate printed a year later says what the bench said
on the day. Certificates are drawn with ReportLab (tens of milliseconds each) and
written off the measurement path by `CertificateQueue`; lot reports are matplotlib
pages (PDF backend, no pyplot, so no display or global backend is involved).
"""

from bench.report.certificate import CertificateData, certificate_from_store
from bench.report.certificate_pdf import render_certificate, write_certificate
from bench.report.files import create_exclusive, safe_file_stem
from bench.report.issuer import CertificateIssuer, issuer_from_station
from bench.report.lot_report import LotReportData, load_lot_report_data, write_lot_report

__all__ = [
    "CertificateData",
    "CertificateIssuer",
    "LotReportData",
    "certificate_from_store",
    "create_exclusive",
    "issuer_from_station",
    "load_lot_report_data",
    "render_certificate",
    "safe_file_stem",
    "write_certificate",
    "write_lot_report",
]
