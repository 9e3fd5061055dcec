"""The station's roles and who may do what: written once, used by the services (which enforce them), the API's
endpoint declarations (which document them) and the UI's screens. Tests take their expectations from the README's
table, not from here."""
from __future__ import annotations

POLLING_OFFICER = "polling_officer"
PRESIDING_OFFICER = "presiding_officer"
TECHNICIAN = "technician"
AUDITOR = "auditor"
REGISTRATION_OFFICER = "registration_officer"
REGISTRAR = "registrar"
ROLES = (POLLING_OFFICER, PRESIDING_OFFICER, TECHNICIAN, AUDITOR, REGISTRATION_OFFICER, REGISTRAR)

OFFICERS = (POLLING_OFFICER, PRESIDING_OFFICER)  # verify voters, issue ballots, search the roll
EXCEPTION_ROLES = (PRESIDING_OFFICER,)  # record a verification exception
SUMMARY_ROLES = (*OFFICERS, AUDITOR)  # the day's summary
DEVICE_ROLES = (TECHNICIAN, PRESIDING_OFFICER)  # device status and test captures
FAULT_ROLES = (TECHNICIAN,)  # fault injection from the technician screen
AUDIT_ROLES = (AUDITOR, PRESIDING_OFFICER)  # the live log and its verification
REPORT_ROLES = (AUDITOR,)  # the auditor's report
REGISTRATION_STAFF = (REGISTRATION_OFFICER, REGISTRAR)  # registrations and their captures
REGISTRAR_ROLES = (REGISTRAR,)  # the adjudication queue and decisions, exception photos
SIM_ROLES = (*OFFICERS, *REGISTRATION_STAFF, TECHNICIAN)  # steer simulated devices (simulated profile only)
KEY_UNLOCK_ROLES = (PRESIDING_OFFICER, REGISTRAR)  # unlock the station keys when the poll (or the centre) opens
LOCKOUT_ROLES = (TECHNICIAN, AUDITOR)  # see the login lockouts (failure counts, never passwords)
LOCKOUT_CLEAR_ROLES = (TECHNICIAN,)  # clear a username's login lockout
