"""Weekly metrics stage: weekly stats rows computed from stored daily observations."""
