# Shortcuts for those who have make; tasks.py does the work (and needs only Python 3.11+).
.PHONY: lab test book sync
lab:
	python3 tasks.py lab
test:
	python3 tasks.py test
book:
	python3 tasks.py book
sync:
	python3 tasks.py sync
