"""jedi_repro.engine"""
