"""Runs iiif-validator-ng's own test runner against a server and prints every failure and one
summary line. Its command line always exits 0 and draws a progress bar; this gives CI an exit
status. Usage: ng_summary.py BASE_URL IDENTIFIER"""

import sys

from iiif_validator.tests.test import IIIFVersion, TargetServer, ValidationFailure
from iiif_validator.validate import run_tests

server = TargetServer(sys.argv[1], validation_id=sys.argv[2], version=IIIFVersion.V3)
features = server.feature_set()
print(
    f"ng: level {features.compliance_level.name}, extra features {len(features.extra_features)}, "
    f"formats {features.extra_formats}, qualities {features.extra_qualities}"
)
tests = run_tests(server, max_threads=2)
passed = failed = 0
for test, result in tests:
    for res in result if isinstance(result, list) else [result]:
        if isinstance(res, ValidationFailure):
            failed += 1
            print(f"  FAIL {test.name} [{test.__module__.split('.')[-1]}]: {res.details}")
            print(f"       expected {res.expected}, got {res.received}; {res.url}")
        else:
            passed += 1
print(f"ng: {tests.num_total} tests, {passed} checks passed, {failed} failed")
sys.exit(1 if failed else 0)
