"""jedi_repro.experts"""
