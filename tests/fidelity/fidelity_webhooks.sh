#!/usr/bin/env bash
# ctest-name: fidelity.webhooks
# The fidelity suite in its webhooks mode (docs/fidelity.md): lmsync-webhook
# receives the sandbox's deliveries (NATIVE for successfactors_lms, VIRTUAL
# every minute for udemy, with dropped, duplicated and reordered ones) between
# polls; the same rounds, confirmation and score as fidelity.matrix, on the
# sub-matrix of those two providers plus coursera (no webhooks: polled only).
export FIDELITY_WEBHOOKS=1
export FIDELITY_PROVIDERS=${FIDELITY_PROVIDERS:-successfactors_lms udemy coursera}
exec bash "$(dirname "$0")/fidelity.sh"
