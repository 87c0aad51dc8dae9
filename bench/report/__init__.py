"""Certificates (one PDF per cable) and lot reports (PDF or HTML) from stored records.

Both read only what the store holds (a `CableRecord`, its `ReferenceRecord`,
a lot's rows), so a certificate printed a year later says what the bench said
on the day. Matplotlib draws every page (PDF backend, multi-page PdfPages);
nothing here imports pyplot, so no display or global backend is involved.
"""

from bench.report.certificate import CertificateData, certificate_figures, write_certificate
from bench.report.files import create_exclusive, safe_file_stem
from bench.report.lot_report import LotReportData, load_lot_report_data, write_lot_report

__all__ = [
    "CertificateData",
    "LotReportData",
    "certificate_figures",
    "create_exclusive",
    "load_lot_report_data",
    "safe_file_stem",
    "write_certificate",
    "write_lot_report",
]
