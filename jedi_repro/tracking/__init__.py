"""jedi_repro.tracking"""
