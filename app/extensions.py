"""The Flask extension singletons, created unbound here and bound to an app in the factory."""

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

from app.storage.base import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate(render_as_batch=True)  # batch mode: SQLite can only alter tables by copying them
