"""The sre.runbooks lab: real services on loopback for the demo and the tests.

Everything it starts lives under one state directory (``.lab/`` at the
repository root unless ``SRE_LAB_DIR`` says otherwise); ``lab down`` stops
every process it started and removes nothing else.
"""
