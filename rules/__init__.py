"""Pure screening logic and policy packs. Imports only schemas; never Kafka or Faust."""
