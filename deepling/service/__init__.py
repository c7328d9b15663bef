"""The service layer: workspace (models and datasets by id), uploads, the content-keyed cache,
background jobs and their tasks, configuration and limits. Uses the library; knows no Dash."""
