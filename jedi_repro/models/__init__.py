"""jedi_repro.models"""
