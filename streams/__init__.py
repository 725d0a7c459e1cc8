"""The Faust application: topics, tables, agents, web views, CLI and the dev broker."""
