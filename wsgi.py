"""WSGI entry point for gunicorn and Elastic Beanstalk."""
from app import create_app
application = create_app()
