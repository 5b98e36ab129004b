module schedkit.local/testenv/tokenserver

go 1.21
