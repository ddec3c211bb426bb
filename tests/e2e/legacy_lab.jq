# legacy_lab.jq - scenarios/demo.json with the lab pool (8.4.0) on legacy hotfixes instead of
# XenServer 8 repository updates: no "repository", and the vendor catalog offers XS84E001 /
# XS84E002 for 8.4.0 again.  For the e2e tests that exercise uploads, downloads and dismissals
# of legacy hotfixes on lab (demo.json itself now makes lab a repository pool: xs8_updates.sh).
(.pools[] | select(.name == "lab")) |= del(.repository)
| .vendor.patches += [
    {"uuid": "e1c3a5b7-9d2f-4e6a-8c0b-4d6f8a0c2e06", "name_label": "XS84E001",
     "description": "XenServer 8 toolstack fixes.", "installation_size": 41943040,
     "after_apply_guidance": ["restartXAPI"], "priority": 2,
     "timestamp": "2026-08-01T00:00:00Z"},
    {"uuid": "f2d4b6c8-0e3a-4f7b-9d1c-5e7a9b1d3f07", "name_label": "XS84E002",
     "description": "XenServer 8 kernel fixes, delivered as a live patch.",
     "installation_size": 83886080, "after_apply_guidance": ["restartHost"], "livepatch": true,
     "priority": 1, "timestamp": "2026-10-12T00:00:00Z"}]
| (.vendor.versions[] | select(.value == "8.4.0")) |= (.patches = ["XS84E001", "XS84E002"]
    | .minimal = ["XS84E001", "XS84E002"])
