"""jedi_repro.studies"""
