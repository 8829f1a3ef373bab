# JEDI on the YouTube-8M feature stores (`jedi bench yt8m`): the paper settings of jedi_default.py
# unchanged (concat fusion, alpha = beta = 1, gamma = 0.4 with the KD term summed over datasets, KD = ce at
# tau = 2, trained to a validation plateau), so that the real-data numbers are those of the same protocol
# as the synthetic benchmark. Only logging is quieter.
_base_ = ['../jedi/jedi_default.py']

# INFO: the run's log file holds every epoch; the quiet console shows errors only (jedi_repro/console.py)
log_level = 'INFO'
