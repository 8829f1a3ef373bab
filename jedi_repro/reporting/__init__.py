"""jedi_repro.reporting"""
