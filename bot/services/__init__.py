"""Application services, one package a feature: they run battles, judges and tournaments
against narrow ports (a model client, a stage, the store) and import no ``discord``."""
