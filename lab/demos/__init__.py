"""`invoke lab.demo`: the module's five ways containers talk (sockets in
three kinds, a shared filesystem, database records, HTTP, MQTT), each a
small real stack on the lab's swarm, measured and removed again.

measure.py: payloads and statistics (also copied into the demo image);
stacks.py: what each demo deploys and how its reports become rows;
table.py: verdicts on the module's claims and the table; runner.py: the
shared deploy / wait for reports / remove; texts.yaml: what the class reads
(English and Indonesian); image/: the programs and their Dockerfile.
"""
