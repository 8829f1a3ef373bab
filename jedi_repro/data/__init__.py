"""jedi_repro.data"""
